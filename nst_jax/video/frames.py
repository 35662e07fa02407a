"""Frames in and out: a folder of images (sorted by name), an animated GIF, or a video file.

`read_frames` returns the frames chosen by `start` and `count` as 8-bit RGB arrays with
their names, durations and frame rate; `frame_name` is the name of the stylized frame k in
the output folder; `write_film` assembles the stylized frames into an animated GIF or a
video file, atomically, at the input's durations or a given frame rate.

Video files (.mp4, .webm, .mkv, .avi, .mov) go through PyAV, which brings its own FFmpeg
(the `video` extra: pip install "nst_jax[video]"); folders and GIFs need only Pillow. Only
the first video stream is read: sound and subtitles are dropped. Written: H.264 in .mp4,
.mkv and .mov, VP9 in .webm, MPEG-4 Part 2 in .avi, all yuv420p (what players expect).
"""

from fractions import Fraction
from pathlib import Path
from typing import Any, List, NamedTuple, Optional

import numpy as np
from PIL import Image, ImageSequence

from ..errors import NstError
from ..io import files, image_files

IMAGES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")  # a folder's frames
CODECS = {".mp4": "libx264", ".mkv": "libx264", ".mov": "libx264", ".webm": "libvpx-vp9", ".avi": "mpeg4"}
QUALITY = {"libx264": {"crf": "18"}, "libvpx-vp9": {"crf": "30", "b:v": "0"}, "mpeg4": {"b": "4M"}}
FPS = 25.0  # a folder's frame rate, and a film's where the file gives none


class Frames(NamedTuple):
    images: List[np.ndarray]  # each (H, W, 3) RGB uint8, all one size
    names: List[str]  # each frame's name: its file's, or frame_00001 ... for a GIF or a video
    durations: List[int]  # milliseconds each (a folder: 40 ms, 25 frames a second)
    fps: float  # frames a second: a video's own, 1000 / a GIF's mean duration, a folder's 25


def is_gif(path) -> bool:
    return Path(path).suffix.lower() == ".gif"


def is_video(path) -> bool:
    return Path(path).suffix.lower() in CODECS


def need_av(path, what: str) -> Any:
    """PyAV, imported; or a one-line error naming the extra that brings it."""
    try:
        import av
    except ImportError:
        raise NstError(
            f'{what} {Path(path).suffix} files need PyAV; pip install "nst_jax[video]", or use frames or a GIF'
        ) from None
    return av


def frame_name(k: int) -> str:
    """The k-th stylized frame's file name (from 1): frame_00001.png."""
    return f"frame_{k:05d}.png"


def read_frames(path, start: int = 0, count: Optional[int] = None) -> Frames:
    """Frames start, start + 1, ... (count of them; None: to the end) of a folder, a GIF
    or a video file."""
    p = files.check_input(path, "video frames") if not Path(path).is_dir() else Path(path)
    stop = None if count is None else start + count
    if p.is_dir():
        found = sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGES and not q.name.startswith("."))
        chosen = found[start:stop]
        images = [_uint8(image_files.load_image(q)[0]) for q in chosen]
        names, durations, fps = [q.stem for q in chosen], [round(1000 / FPS)] * len(chosen), FPS
    elif is_gif(p) or is_video(p):
        images, durations, fps = (_read_gif if is_gif(p) else _read_video)(p, start, stop)
        names = [frame_name(start + k + 1)[:-4] for k in range(len(images))]
    else:
        raise NstError(
            f"{files.show(p)} is neither a folder of frames, a GIF nor a video ({', '.join(CODECS)}); give one of them"
        )
    if not images:
        raise NstError(
            f"no frames in {files.show(p)} from --start {start}; give a folder of images, a GIF or a video"
        )
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise NstError(
            f"the frames of {files.show(p)} differ in size ({len(shapes)} sizes); give frames of one size"
        )
    return Frames(images, names, durations, fps)


def _uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _even(image: np.ndarray) -> np.ndarray:
    """yuv420p halves the colour's resolution: even sides, the last row or column repeated."""
    h, w = image.shape[:2]
    return np.pad(image, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def _read_gif(p: Path, start: int, stop: Optional[int]):
    images, durations = [], []
    with Image.open(p) as gif:  # (the iterator seeks one image: each frame read as it comes)
        for k, f in enumerate(ImageSequence.Iterator(gif)):
            if k >= start and (stop is None or k < stop):
                images.append(np.asarray(f.convert("RGB"), np.uint8))
                durations.append(int(f.info.get("duration", 40)) or 40)
    return images, durations, 1000 / float(np.mean(durations)) if durations else FPS


def _read_video(p: Path, start: int, stop: Optional[int]):
    """The frames of the file's first video stream, decoded one at a time."""
    av = need_av(p, "reading")
    images = []
    try:
        with av.open(str(p)) as container:
            if not container.streams.video:
                raise NstError(f"{files.show(p)} holds no video stream; give a film")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or FPS)
            for k, frame in enumerate(container.decode(stream)):
                if stop is not None and k >= stop:
                    break
                if k >= start:
                    images.append(frame.to_ndarray(format="rgb24"))
    except (av.error.FFmpegError, ValueError) as e:
        raise NstError(f"cannot read the video {files.show(p)} ({e}); give a playable film") from None
    return images, [round(1000 / fps)] * len(images), fps


def write_film(path: Path, frames: List[Path], durations: List[int], fps: Optional[float]) -> None:
    """The stylized frames (PNG files) as one looping animated GIF or one video file at
    `path`, atomically: at `fps` frames a second, or (None) a GIF at `durations` and a
    video at their mean rate."""
    if is_gif(path):
        images = [Image.open(f).convert("RGB") for f in frames]
        ms = durations if fps is None else [round(1000 / fps)] * len(images)

        def write(tmp: str) -> None:
            images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=ms, loop=0)

    else:
        av = need_av(path, "writing")
        rate = Fraction(fps or 1000 / float(np.mean(durations))).limit_denominator(1001)
        codec = CODECS[path.suffix.lower()]

        def write(tmp: str) -> None:
            images = (_even(np.asarray(Image.open(f).convert("RGB"))) for f in frames)
            first = next(images)
            with av.open(tmp, "w") as container:
                stream = container.add_stream(codec, rate=rate, options=QUALITY[codec])
                stream.pix_fmt, stream.height, stream.width = "yuv420p", *first.shape[:2]
                for image in (first, *images):
                    container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
                container.mux(stream.encode())  # (the frames the encoder still holds)

    files.write_kept([("the film", path, write)])
