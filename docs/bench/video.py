"""The README's video table: flicker and style term, ours against frames stylized alone,
on three clips made from the shared photos: each flow, --long-term and --passes.

    NST_JAX_WEIGHTS=<vgg16 .h5> NST_JAX_IMAGES=<images folder> python docs/bench/video.py

Clips (6 frames of 160x120, made with Pillow): `pan`, crops of tubingen.jpg 6 px apart in
the 1024 px photo (1.5 px of motion a frame); `zoom`, chelsea.png cropped 4% tighter a
frame around its centre; `object`, a 56x40 crop of coffee.png moving 4 px a frame over
rocket.jpg. Each run: `stylize_video(clip, style, size=128, iters=60, frame_iters=30,
flow=..., long_term=..., passes=...)` at the default temporal weight, beside the same
frames stylized alone (`compare_independent`, once per flow). Flicker: the mean warping
error of frames 2-6 (0..255 units squared) measured with the row's flow; style term: their
mean unweighted L_style. Prints a Markdown table; `--rows` chooses the variants, `--json
FILE` keeps every record; `--weights 0,1e6,1e7,1e8` prints the temporal weight's table
(the pan) instead.
"""

import argparse
import json
import os
import tempfile
from pathlib import Path

from PIL import Image

from nst_jax.video.video import stylize_video

STYLES = {"pan": "starry_night.jpg", "zoom": "the_scream.jpg", "object": "shipwreck.jpg"}


def clips(images: Path, out: Path, n: int = 6, size=(160, 120)) -> dict:
    """The three clips as GIFs in `out`: {name: path}."""
    photo = Image.open(images / "tubingen.jpg").convert("RGB")
    photo = photo.resize((1024, round(1024 * photo.height / photo.width)))
    w, h = 4 * size[0], 4 * size[1]  # (a 640x480 window moved 6 px a frame, resized to 160x120)
    pan = [photo.crop((6 * k, 0, 6 * k + w, h)).resize(size, Image.LANCZOS) for k in range(n)]
    cat = Image.open(images / "chelsea.png").convert("RGB")
    zoom = []
    for k in range(n):
        s = 0.96**k  # (each frame 4% tighter around the centre)
        cw, ch = cat.width * s, cat.height * s
        box = ((cat.width - cw) / 2, (cat.height - ch) / 2, (cat.width + cw) / 2, (cat.height + ch) / 2)
        zoom.append(cat.resize(size, Image.LANCZOS, box=box))
    back = Image.open(images / "rocket.jpg").convert("RGB").resize(size, Image.LANCZOS)
    cup = Image.open(images / "coffee.png").convert("RGB").resize((56, 40), Image.LANCZOS)
    moving = []
    for k in range(n):
        frame = back.copy()
        frame.paste(cup, (20 + 4 * k, 40))
        moving.append(frame)
    paths = {}
    for name, frames in (("pan", pan), ("zoom", zoom), ("object", moving)):
        paths[name] = out / f"{name}.gif"
        frames[0].save(paths[name], save_all=True, append_images=frames[1:], duration=40, loop=0)
    return paths


ROWS = {  # (flow, long_term, passes): the variants, each on every clip
    "dis": ("dis", False, 0),
    "jax": ("jax", False, 0),
    "dis + long-term": ("dis", True, 0),
    "dis + 4 passes": ("dis", False, 4),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--rows", default=",".join(ROWS), help=f"the variants, comma-separated: {', '.join(ROWS)}"
    )
    ap.add_argument("--clips", default=",".join(STYLES), help="the clips, comma-separated")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--json", default=None, help="write every run's records here")
    ap.add_argument(
        "--weights", default=None, help="instead: the pan at these temporal weights, e.g. 0,1e6,1e7"
    )
    args = ap.parse_args()
    images = Path(os.environ["NST_JAX_IMAGES"])
    if args.weights:
        return weights(images, [float(w) for w in args.weights.split(",")], args.size)
    rows, kept = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, clip in clips(images, Path(tmp)).items():
            if name not in args.clips.split(","):
                continue
            alone = {}  # flow -> (flicker, style term) of the frames stylized alone
            for row in args.rows.split(","):
                flow, long_term, passes = ROWS[row]
                out = Path(tmp) / f"{name}_{row.replace(' ', '_')}"
                r = stylize_video(
                    clip, str(images / STYLES[name]), out, progress=False, size=args.size, iters=60,
                    frame_iters=30, compare_independent=flow not in alone, flow=flow, long_term=long_term,
                    passes=passes,
                )  # fmt: skip
                i = r.info
                if flow not in alone:  # (the frames alone: once per flow, their flicker measured by it)
                    alone[flow] = (i["independent_flicker"], i["independent_style"])
                a_flicker, a_style = alone[flow]
                seconds = [f["seconds"] for f in i["frames"]]
                total = sum(
                    p["seconds"] for p in json.loads((out / "video.json").read_text()).get("pass_records", [])
                )
                took = (
                    f"passes 2-{passes}: {total:.0f} s"
                    if passes
                    else f"{min(seconds[2:]):.1f}-{max(seconds[2:]):.1f} ({seconds[0]:.1f})"
                )
                rows.append(
                    f"| {name} | `{STYLES[name]}` | {row} | {i['flicker']:.1f} | {a_flicker:.0f} "
                    f"| {a_flicker / i['flicker']:.1f}x | {i['style']:.3g} | {a_style:.3g} "
                    f"| {i['style'] / a_style:.2f} | {took} |"
                )
                kept[out.name] = i
                print(rows[-1], flush=True)
    print("\n| clip | style | variant | flicker: ours | alone | ratio | style term 2-6: ours | alone | ratio "
          "| s / frame 3-6 (frame 1) |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(kept, indent=1, default=float))


def weights(images: Path, lambdas, size: int) -> None:
    """The pan at each temporal weight (the default flow): flicker and style term."""
    print(f"| `--temporal-weight` at {size} px | flicker | style term, frames 2-6 |\n| --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        pan = clips(images, Path(tmp))["pan"]
        for k, lam in enumerate(lambdas):
            r = stylize_video(
                pan, str(images / STYLES["pan"]), Path(tmp) / f"w{k}", progress=False, size=size, iters=60,
                frame_iters=30, temporal_weight=lam, compare_independent=k == 0,
            )  # fmt: skip
            if k == 0:
                print(
                    f"| each frame alone | {r.info['independent_flicker']:.0f} | {r.info['independent_style']:.3g} |"
                )
            print(f"| {lam:g} | {r.info['flicker']:.1f} | {r.info['style']:.3g} |", flush=True)


if __name__ == "__main__":
    main()
