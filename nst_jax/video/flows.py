"""The optical flow a film's frames are warped by, and what the temporal term is built from.

Two flows, one convention (paper/temporal.py): `flow(a, b)` is w (H, W, 2), (x, y) in
pixels, with a(p) ~ b(p + w(p)).

- `jax`: coarse-to-fine Horn & Schunck in JAX (temporal.flow): no extra install, compiled
  once per frame size, runs wherever JAX does.
- `dis`: OpenCV's Dense Inverse Search (Kroeger et al., ECCV 2016), the "medium" preset
  (patch search, then variational refinement), from the `video` extra
  (opencv-python-headless): sharper at motion boundaries and several times faster on a
  CPU (docs/guide/video.md: both against a known shift).

`auto` takes `dis` when OpenCV is installed, else `jax`. Ruder et al. used DeepFlow and
EpicFlow; any flow with the convention above serves.

`references(history, content, frames)` is what a frame's temporal term needs: for each
earlier frame i-j (j in `frames`: (1,), or (1, 2, 4) for long-term consistency, Ruder et
al. Sec. 3.2), that frame's stylized image warped into frame i and its weights

    c_long^(i-j, i) = max(c^(i-j, i) - sum_{k in J, k < j} c^(i-k, i), 0)          (Eq. 9)

so that each pixel is held to the nearest earlier frame that sees it; frames before the
film's start get c = 0. Stacked, (K, H, W, 3) and (K, H, W): temporal.temporal_loss sums
Eq. 7 over the stack (Eq. 8).
"""

from typing import Callable, Dict, List, Sequence, Tuple

import jax.numpy as jnp
import numpy as np

from ..errors import NstError
from ..paper import temporal

NAMES = ("auto", "jax", "dis")
LONG_TERM = (1, 2, 4)  # Ruder et al.'s J for long-term consistency (Sec. 3.2, their choice)


def _opencv():
    try:
        import cv2
    except ImportError:
        return None
    return cv2


def choose(name: str) -> str:
    """The flow `name` stands for ("auto": dis with OpenCV installed, else jax)."""
    if name not in NAMES:
        raise NstError(f"--flow {name!r} is not one of {', '.join(NAMES)}; e.g. --flow auto")
    if name == "auto":
        return "dis" if _opencv() is not None else "jax"
    if name == "dis" and _opencv() is None:
        raise NstError('--flow dis needs OpenCV; pip install "nst_jax[video]", or use --flow jax')
    return name


def dis_flow(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """OpenCV's DIS flow between two frames (H, W, 3) 0..255, on their gray levels: (H, W, 2)."""
    cv2 = _opencv()
    gray = lambda a: np.clip(np.rint(np.mean(np.asarray(a, np.float32), axis=-1)), 0, 255).astype(np.uint8)
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(gray(first), gray(second), None)  # first(p) ~ second(p + w(p)), as ours


FLOWS: Dict[str, Callable] = {"jax": lambda a, b: np.asarray(temporal.flow(a, b)), "dis": dis_flow}


def references(
    history: Sequence[Tuple[np.ndarray, np.ndarray]], content: np.ndarray, frames: Sequence[int], flow: str
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(warped (K, H, W, 3), c_long (K, H, W), c (H, W) of the previous frame alone) for the
    frame `content` (H, W, 3): history[-j] = (frame i-j as optimised, its stylized image)."""
    h, w = content.shape[:2]
    warped = np.zeros((len(frames), h, w, 3), np.float32)
    cs = np.zeros((len(frames), h, w), np.float32)
    for k, j in enumerate(frames):
        if j > len(history):  # (before the film's start: nothing to hold to, c = 0)
            continue
        earlier, stylized = history[-j]
        back, fwd = (jnp.asarray(FLOWS[flow](*ab)) for ab in ((content, earlier), (earlier, content)))
        cs[k] = np.asarray(temporal.consistency(fwd, back))  # back: i -> i-j, fwd: i-j -> i
        warped[k] = np.asarray(temporal.warp(jnp.asarray(stylized), back))  # i-j's stylized frame in i
    c_long = np.maximum(cs - np.cumsum(cs, axis=0) + cs, 0.0)  # c_j - sum_{k < j} c_k   (Eq. 9)
    return warped, c_long, cs[0]


def endpoint_error(flow: np.ndarray, shift: Tuple[float, float], margin: int) -> float:
    """The mean distance (pixels) between `flow` and a constant shift (x, y), `margin`
    pixels from the border left out (where the shifted frame has no data)."""
    inner = flow[margin:-margin, margin:-margin] - np.asarray(shift, np.float32)
    return float(np.mean(np.sqrt(np.sum(inner**2, axis=-1))))


def shifted_pair(image: np.ndarray, shift: Tuple[float, float]) -> List[np.ndarray]:
    """(image, image moved by -shift): the first frame's p is the second's p + shift, so
    the true flow from the first to the second is `shift` everywhere (bilinear)."""
    h, w = image.shape[:2]
    back = jnp.broadcast_to(-jnp.asarray(shift, jnp.float32), (h, w, 2))  # second(q) = first(q - shift)
    return [np.asarray(image, np.float32), np.asarray(temporal.warp(jnp.asarray(image, jnp.float32), back))]
