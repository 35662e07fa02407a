"""Frames in and out: a folder of images (sorted by name) or an animated GIF.

`read_frames` returns the frames chosen by `start` and `count` as RGB arrays with their
names and the GIF's frame durations; `frame_name` is the name of the stylized frame k in
the output folder; `write_gif` assembles the stylized frames into an animated GIF,
atomically, keeping the input's durations.
"""

from pathlib import Path
from typing import List, NamedTuple, Optional

import numpy as np
from PIL import Image, ImageSequence

from ..errors import NstError
from ..io import files, image_files

IMAGES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")  # a folder's frames


class Frames(NamedTuple):
    images: List[np.ndarray]  # each (H, W, 3) RGB 0..255 float32, all one size
    names: List[str]  # each frame's name: its file's, or the GIF's frame_00001 ...
    durations: List[int]  # milliseconds each (a folder: 40 ms, 25 frames a second)


def is_gif(path) -> bool:
    return Path(path).suffix.lower() == ".gif"


def frame_name(k: int) -> str:
    """The k-th stylized frame's file name (from 1): frame_00001.png."""
    return f"frame_{k:05d}.png"


def read_frames(path, start: int = 0, count: Optional[int] = None) -> Frames:
    """Frames start, start + 1, ... (count of them; None: to the end) of a folder or a GIF."""
    p = files.check_input(path, "video frames") if not Path(path).is_dir() else Path(path)
    if p.is_dir():
        found = sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGES and not q.name.startswith("."))
        chosen = found[start : None if count is None else start + count]
        images = [image_files.load_image(q)[0] for q in chosen]
        names, durations = [q.stem for q in chosen], [40] * len(chosen)
    elif is_gif(p):
        images, durations = [], []
        with Image.open(p) as gif:  # (the iterator seeks one image: each frame read as it comes)
            for k, f in enumerate(ImageSequence.Iterator(gif)):
                if k >= start and (count is None or k < start + count):
                    images.append(np.asarray(f.convert("RGB"), np.float32))
                    durations.append(int(f.info.get("duration", 40)))
        names = [frame_name(start + k + 1)[:-4] for k in range(len(images))]
    else:
        raise NstError(f"{files.show(p)} is neither a folder of frames nor a GIF; give one of them")
    if not images:
        raise NstError(f"no frames in {files.show(p)} from --start {start}; give a folder of images or a GIF")
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise NstError(
            f"the frames of {files.show(p)} differ in size ({len(shapes)} sizes); give frames of one size"
        )
    return Frames(images, names, durations)


def write_gif(path: Path, frames: List[Path], durations: List[int]) -> None:
    """The stylized frames (PNG files) as one animated GIF at `path`, looping, atomically."""
    images = [Image.open(f).convert("RGB") for f in frames]

    def write(tmp: str) -> None:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)

    files.write_kept([("the GIF", path, write)])
