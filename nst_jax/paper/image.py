"""Images as arrays: resizing, the Caffe preprocessing and its inverse, 8-bit pixels.

The ImageNet VGG weights (Simonyan & Zisserman 2014, converted from Caffe) expect the
"Caffe" convention: an RGB image in 0..255, channels reordered to BGR, the per-channel
ImageNet mean subtracted, no division by a standard deviation:

    x = RGB[..., ::-1] - [103.939, 116.779, 123.68]        # (H, W, 3) BGR, roughly -124..152

Style transfer optimises the image in this space; `deprocess` undoes it for saving.

Reading and writing image files (EXIF, 16-bit, alpha, atomic writes) is io/image_files.py.
"""

from typing import Optional, Tuple

import numpy as np
from PIL import Image

from ..errors import NstError

IMAGENET_MEAN_BGR = np.array([103.939, 116.779, 123.68], np.float32)  # Caffe/Keras VGG mean
# the valid images in preprocessed space: every pixel of every channel in 0..255
PIXEL_BOX = (tuple(-IMAGENET_MEAN_BGR), tuple(255.0 - IMAGENET_MEAN_BGR))  # (low, high), each 3 floats


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
