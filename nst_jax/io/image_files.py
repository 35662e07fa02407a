"""Image files in and out: a path, a PIL image or an array read as float RGB; atomic writes.

Reading normalises what real files hold: EXIF orientation (phone photos), grayscale,
palette, 16-bit and RGBA images; the alpha channel is returned apart so that the caller
can carry it to the output. Every unreadable file gets a one-line error naming it. The
arrays' own conventions (resizing, the Caffe preprocessing) are paper/image.py.
"""

import os
from pathlib import Path
from typing import Callable, List, Optional, Tuple, Union

import numpy as np
from PIL import Image, ImageOps

from ..errors import NstError
from ..paper.image import preprocess, resize
from .files import StrPath, atomic_write, check_input, show

ImageLike = Union[str, os.PathLike, Image.Image, np.ndarray]
DATA = Path(__file__).resolve().parent.parent / "data"  # the bundled public-domain/CC0 images
DEMO_CONTENT, DEMO_STYLE = DATA / "chelsea.jpg", DATA / "starry_night.jpg"  # the demo run's pair
REFERENCE_IMAGES = tuple(sorted(DATA.glob("*.jpg")))  # normalize.py's reference set
REFERENCE_SIDE = 256  # each reference image: its central square at this many px a side


def _open(path) -> Image.Image:
    p = check_input(path, "image")  # a regular file: a FIFO would block forever
    try:
        img = Image.open(p)
        img.load()  # decode now, so a truncated file fails here and not later
    except Image.DecompressionBombError:
        raise NstError(f"{show(p)} is too large to decode safely; downscale it first") from None
    except PermissionError:
        raise NstError(f"cannot read {show(p)}: permission denied; check its permissions") from None
    except Image.UnidentifiedImageError:
        raise NstError(f"{show(p)} is not an image Pillow can read; use a PNG or JPEG") from None
    except (OSError, SyntaxError, ValueError) as e:  # truncated or corrupt data
        raise NstError(f"{show(p)} is damaged or truncated ({e}); re-export the image") from None
    return img


def _bits(img: Image.Image) -> int:
    """The bit depth of an integer grayscale image, from its mode and format, never from
    the values it holds (a dark 16-bit photo is not an 8-bit one)."""
    if img.mode.startswith("I;16"):
        return 16
    if img.format == "TIFF":
        return int(img.tag_v2.get(258, (32,))[0])  # type: ignore[attr-defined]  # BitsPerSample
    return 16 if img.format in ("PNG", "PPM") else 31  # PNG, PGM: at most 16; else int32


def _to_rgb_alpha(img: Image.Image, name: str = "the image") -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Any Pillow mode -> ((H, W, 3) float32 RGB in 0..255, (H, W) float32 alpha or None);
    `name`: the image as errors name it (its path)."""
    bits = _bits(img) if img.mode.startswith("I") else 8
    img = ImageOps.exif_transpose(img)  # respect the EXIF orientation tag
    if img.mode.startswith("I"):  # 16/32-bit grayscale: 0..2^bits - 1 -> 0..255
        gray = np.clip(np.asarray(img, np.float64) * (255.0 / (2.0**bits - 1)), 0, 255).astype(np.float32)
        return np.repeat(gray[..., None], 3, axis=2), None
    if img.mode == "F":
        raise NstError(f"{name} is a floating-point image, which is not supported; save it as 8-bit PNG")
    has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    img = img.convert("RGBA" if has_alpha else "RGB")  # palette, gray, CMYK, ... -> RGB(A)
    a = np.asarray(img, np.float32)
    return (a[..., :3], a[..., 3]) if has_alpha else (a, None)


def load_image(src: ImageLike) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Path | PIL image | array -> ((H, W, 3) float32 RGB 0..255, (H, W) alpha 0..255 or None).

    Arrays: (H, W) gray or (H, W, 3|4); uint8 in 0..255, or float in 0..1 or 0..255.
    """
    if isinstance(src, (str, os.PathLike)):
        return _to_rgb_alpha(_open(src), show(src))
    if isinstance(src, Image.Image):
        return _to_rgb_alpha(src)
    if isinstance(src, np.ndarray) or hasattr(src, "__array__"):
        a = np.asarray(src)
        if a.ndim == 2:
            a = np.repeat(a[..., None], 3, axis=2)
        if a.ndim != 3 or a.shape[2] not in (3, 4):
            raise NstError(f"image array has shape {a.shape}; expected (H, W), (H, W, 3) or (H, W, 4)")
        a = a.astype(np.float32)
        if not np.all(np.isfinite(a)):
            raise NstError("image array contains NaN or infinite values; give finite pixels (0..1 or 0..255)")
        if np.issubdtype(np.asarray(src).dtype, np.floating) and a.max() <= 1.0:
            a = a * 255.0  # float images in 0..1
        a = np.clip(a, 0, 255)
        return (a[..., :3], a[..., 3]) if a.shape[2] == 4 else (a, None)
    raise NstError(f"cannot use a {type(src).__name__} as an image; give a path, PIL image or array")


def peek_size(src: StrPath) -> Tuple[int, int]:
    """(H, W) of an image file as load_image returns it (EXIF rotation included), read
    from its header only; a file Pillow cannot open gets load_image's one-line error."""
    p = check_input(src, "image")
    try:
        with Image.open(p) as img:
            (w, h), orientation = img.size, img.getexif().get(0x0112, 1)
    except Exception:
        load_image(p)  # (raises its one-line NstError)
        raise
    return (w, h) if orientation in (5, 6, 7, 8) else (h, w)  # rotated by 90 degrees: swapped


def load_mask(mask: ImageLike, content_hw: Tuple[int, int]) -> np.ndarray:
    """A style mask as (H, W) luminance in 0..1 (white: the style applies), checked
    against the content's (height, width)."""
    rgb = load_image(mask)[0]  # (h, w, 3) 0..255
    (h, w), (ch, cw) = rgb.shape[:2], content_hw
    name = show(mask) if isinstance(mask, (str, os.PathLike)) else "a style mask"
    if abs(w / h - cw / ch) > 0.02 * cw / ch:
        raise NstError(
            f"style mask {name} is {w}x{h} but the content is {cw}x{ch}; give masks "
            "with the content's aspect ratio"
        )
    gray = rgb @ np.array([0.299, 0.587, 0.114], np.float32) / 255.0  # Y of YIQ: (h, w)
    if gray.max() <= 0:
        raise NstError(f"style mask {name} is black everywhere; white marks where its style applies")
    return gray


def image_writer(path: StrPath, image: np.ndarray) -> Callable[[str], None]:
    """write(tmp_path) of an (H, W, 3|4) uint8 image in the format of `path`'s extension
    (checked writable by files.check_output before the run)."""
    fmt = Image.registered_extensions()[Path(path).suffix.lower()]
    img = Image.fromarray(image)
    return lambda tmp: img.save(tmp, format=fmt)


def save_image(path: StrPath, image: np.ndarray) -> None:
    """Write an (H, W, 3|4) uint8 image atomically; the format follows the extension."""
    atomic_write(path, image_writer(path, image))


def reference_set() -> List[np.ndarray]:
    """The bundled reference set of paper/normalize.py, preprocessed: central squares of REFERENCE_SIDE px
    (one shape, so one compilation serves all seven)."""
    out = []
    for path in REFERENCE_IMAGES:
        rgb = load_image(path)[0]
        h, w = rgb.shape[:2]
        side = min(h, w)  # (h, w, 3) -> (side, side, 3), centred
        square = rgb[(h - side) // 2 : (h - side) // 2 + side, (w - side) // 2 : (w - side) // 2 + side]
        out.append(preprocess(resize(square, REFERENCE_SIDE, REFERENCE_SIDE)))
    return out
