"""Images as arrays: loading, resizing, Caffe preprocessing, saving (atomically: files.py).

The ImageNet VGG weights (Simonyan & Zisserman 2014, converted from Caffe) expect the
"Caffe" convention: an RGB image in 0..255, channels reordered to BGR, the per-channel
ImageNet mean subtracted, no division by a standard deviation:

    x = RGB[..., ::-1] - [103.939, 116.779, 123.68]        # (H, W, 3) BGR, roughly -124..152

Style transfer optimises the image in this space; `deprocess` undoes it for saving.

Loading accepts a path (a regular file: files.py), a PIL image or an array, and normalises what real files hold:
EXIF orientation (phone photos), grayscale, palette, 16-bit and RGBA images. An alpha
channel is returned separately so the caller can carry it to the output.
"""

import os
from pathlib import Path
from typing import Callable, Optional, Tuple, Union

import numpy as np
from PIL import Image, ImageOps

from .errors import NstError
from .files import StrPath, atomic_write, check_input, show

IMAGENET_MEAN_BGR = np.array([103.939, 116.779, 123.68], np.float32)  # Caffe/Keras VGG mean
# the valid images in preprocessed space: every pixel of every channel in 0..255
PIXEL_BOX = (tuple(-IMAGENET_MEAN_BGR), tuple(255.0 - IMAGENET_MEAN_BGR))  # (low, high), each 3 floats
ImageLike = Union[str, os.PathLike, Image.Image, np.ndarray]


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


def fit_size(height: int, width: int, longest: int) -> Tuple[int, int]:
    """(H, W) scaled so that max(H, W) == longest, aspect ratio kept; sides >= MIN_SIDE."""
    from .vgg import MIN_SIDE

    if longest < MIN_SIDE:
        raise NstError(f"size {longest} is too small; VGG needs at least {MIN_SIDE} px per side")
    s = longest / max(height, width)
    h, w = max(1, round(height * s)), max(1, round(width * s))
    if min(h, w) < MIN_SIDE:
        raise NstError(
            f"at longest side {longest} the image is {w}x{h} px; VGG needs at least "
            f"{MIN_SIDE} px per side: raise --size or crop the image"
        )
    return h, w


def resize(rgb: np.ndarray, height: int, width: int, clip: bool = True) -> np.ndarray:
    """(H, W, C) float 0..255 -> (height, width, C), Lanczos (antialiased when shrinking);
    clipped to 0..255 unless `clip` is False (for differences of images)."""
    if rgb.shape[:2] == (height, width):
        return rgb.astype(np.float32)
    chans = [
        Image.fromarray(rgb[..., c].astype(np.float32), mode="F").resize(
            (width, height), Image.Resampling.LANCZOS
        )
        for c in range(rgb.shape[2])
    ]
    out = np.stack([np.asarray(c) for c in chans], axis=2)
    return (np.clip(out, 0, 255) if clip else out).astype(np.float32)


def preprocess(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB 0..255 -> (H, W, 3) BGR minus the ImageNet mean (Caffe convention)."""
    return rgb[..., ::-1] - IMAGENET_MEAN_BGR


def deprocess(x: np.ndarray) -> np.ndarray:
    """Inverse of preprocess: (H, W, 3) BGR minus mean -> (H, W, 3) RGB 0..255 (unclipped)."""
    return (x + IMAGENET_MEAN_BGR)[..., ::-1]


def to_uint8(rgb: np.ndarray, alpha: Optional[np.ndarray] = None) -> np.ndarray:
    """(H, W, 3) float RGB (+ (H, W) alpha) -> (H, W, 3|4) uint8, rounded and clipped."""
    out = np.clip(np.rint(np.asarray(rgb, np.float32)), 0, 255).astype(np.uint8)
    if alpha is not None:
        a = np.clip(np.rint(alpha), 0, 255).astype(np.uint8)
        out = np.concatenate([out, a[..., None]], axis=2)
    return out


def image_writer(path: StrPath, image: np.ndarray) -> Callable[[str], None]:
    """write(tmp_path) of an (H, W, 3|4) uint8 image in the format of `path`'s extension
    (checked writable by files.check_output before the run)."""
    fmt = Image.registered_extensions()[Path(path).suffix.lower()]
    img = Image.fromarray(image)
    return lambda tmp: img.save(tmp, format=fmt)


def save_image(path: StrPath, image: np.ndarray) -> None:
    """Write an (H, W, 3|4) uint8 image atomically; the format follows the extension."""
    atomic_write(path, image_writer(path, image))
