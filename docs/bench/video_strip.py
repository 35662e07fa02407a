"""The README's video strip: the pan's frames, the same frames stylized alone, and `video`'s.

    NST_JAX_WEIGHTS=<vgg16 .h5> NST_JAX_IMAGES=<images folder> python docs/bench/video_strip.py

The `pan` clip of docs/bench/video.py (6 frames, 1.5 px a frame) with starry_night.jpg at
128 px, `--iters 60 --frame-iters 30 --compare-independent`, the default flow and weight:
three rows of six frames (photo, alone, ours) written to docs/images/video_pan.jpg, and
both flickers printed for its caption.
"""

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from video import STYLES, clips  # noqa: E402  (docs/bench/video.py: the same clips)

from nst_jax.video.frames import read_frames  # noqa: E402
from nst_jax.video.video import stylize_video  # noqa: E402

OUT = Path(__file__).parents[1] / "images" / "video_pan.jpg"


def main() -> None:
    images = Path(os.environ["NST_JAX_IMAGES"])
    with tempfile.TemporaryDirectory() as tmp:
        pan = clips(images, Path(tmp))["pan"]
        r = stylize_video(
            pan, str(images / STYLES["pan"]), Path(tmp) / "out", progress=False, size=128, iters=60,
            frame_iters=30, compare_independent=True,
        )  # fmt: skip
        ours = [np.asarray(Image.open(p)) for p in r.frames]
        alone = [np.asarray(Image.open(p)) for p in sorted((Path(tmp) / "out" / "alone").glob("frame_*.png"))]
        h, w = ours[0].shape[:2]
        photo = [
            np.asarray(Image.fromarray(f).resize((w, h), Image.LANCZOS)) for f in read_frames(pan).images
        ]
        gap = lambda a: np.pad(a, ((2, 2), (2, 2), (0, 0)), constant_values=255)  # (white lines between)
        rows = [np.concatenate([gap(f) for f in row], axis=1) for row in (photo, alone, ours)]
        Image.fromarray(np.concatenate(rows, axis=0)).save(OUT, quality=92)
    print(
        f"{OUT}: flicker {r.info['flicker']:.1f} (ours) against {r.info['independent_flicker']:.0f} (alone)"
    )


if __name__ == "__main__":
    main()
