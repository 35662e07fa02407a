"""What the tutorial chapters share: the mode, the inputs, where figures go, and a runner.

Every chapter is a Markdown file whose ```python blocks form a notebook (jupytext's
Markdown format: `jupytext --to notebook 03_what_the_layers_see.md`, or open the .md in
Jupyter with jupytext installed). Chapters import from `nst_jax` and from here; nothing
here re-implements the package, it only picks sizes and lays out pictures.

Two modes, chosen by the environment variable NST_TUTORIAL:
  - "full" (the default): the sizes and iteration counts of the committed figures, which
    are written to tutorials/figures/.
  - "quick": tiny images and a few iterations, figures written to a temporary folder
    (or $NST_TUTORIAL_FIGURES). tests/test_tutorials.py runs every chapter this way, so
    no chapter can drift from the code.

Run one chapter top to bottom from the repository root:

    python tutorials/book.py 03                      # full mode, rewrites its figures
    NST_TUTORIAL=quick python tutorials/book.py 03   # a quick check
"""

import os
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# more photos and paintings (the CI machines' shared folder): $NST_JAX_IMAGES, if set
IMAGES = Path(os.environ["NST_JAX_IMAGES"]) if os.environ.get("NST_JAX_IMAGES") else None
MODE = os.environ.get("NST_TUTORIAL", "full")
if MODE not in ("full", "quick"):
    raise SystemExit(f"NST_TUTORIAL must be 'full' or 'quick', got {MODE!r}")
QUICK = MODE == "quick"


def pick(full, quick):
    """The value for this mode: `size = pick(256, 32)`."""
    return quick if QUICK else full


def figures_dir() -> Path:
    if not QUICK:
        return HERE / "figures"
    folder = os.environ.get("NST_TUTORIAL_FIGURES")
    return Path(folder) if folder else Path(tempfile.gettempdir()) / "nst_jax_tutorial_figures"


def figure_path(name: str) -> Path:
    """Where a chapter writes figure `name` (committed in full mode, scratch in quick)."""
    folder = figures_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def save(name: str, picture) -> Path:
    """Write a PIL image, a uint8 array or a matplotlib figure as figures/<name>."""
    path = figure_path(name)
    if hasattr(picture, "savefig"):
        picture.savefig(path, dpi=100, bbox_inches="tight")
    else:
        img = picture if isinstance(picture, Image.Image) else Image.fromarray(np.asarray(picture))
        img.save(path, quality=88) if path.suffix.lower() in (".jpg", ".jpeg") else img.save(path)
    print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    return path


def photo() -> Path:
    """The content photo of Gatys et al.: Tuebingen's Neckarfront ($NST_JAX_IMAGES, else
    the 256 px copy committed in docs/images)."""
    full = IMAGES / "tubingen.jpg" if IMAGES else None
    return full if full and full.is_file() else REPO / "docs" / "images" / "tubingen.jpg"


def painting(name: str = "starry_night.jpg") -> Path:
    """A public-domain painting: the package's Starry Night, the tutorials' own images/
    (see images/ATTRIBUTION.md), or $NST_JAX_IMAGES."""
    for folder in (REPO / "nst_jax" / "data", HERE / "images", IMAGES):
        if folder is not None and (folder / name).is_file():
            return folder / name
    raise SystemExit(f"painting {name} not found in nst_jax/data, tutorials/images or $NST_JAX_IMAGES")


def weights(model: str = "vgg16") -> Path:
    """The real ImageNet weights, found as the command line finds them ($NST_JAX_WEIGHTS,
    weights/, the user cache; never downloaded)."""
    from nst_jax.io import lookup

    path = lookup.find_weights(None, model)
    if path is None:
        raise SystemExit(
            f"the tutorials need the real {model} weights: set NST_JAX_WEIGHTS "
            "to the .h5 file (see weights/README.md)"
        )
    return path


def grid(images, labels=(), columns=None, label_height=18, pad=4) -> Image.Image:
    """Images (uint8 arrays or PIL) side by side in rows, each with its label underneath."""
    images = [np.asarray(i)[..., :3] for i in images]
    columns = columns or len(images)
    h = max(i.shape[0] for i in images)
    w = max(i.shape[1] for i in images)
    rows = -(-len(images) // columns)
    cell_h = h + (label_height if labels else 0)
    sheet = Image.new("RGB", (columns * (w + pad) + pad, rows * (cell_h + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    for k, img in enumerate(images):
        x0 = pad + (k % columns) * (w + pad)
        y0 = pad + (k // columns) * (cell_h + pad)
        sheet.paste(Image.fromarray(img), (x0, y0))
        if k < len(labels):
            draw.text((x0 + 2, y0 + h + 3), str(labels[k]), fill="black")
    return sheet


def code_cells(path) -> list:
    """The source of each ```python block of a chapter, in order (what a notebook runs)."""
    text = Path(path).read_text(encoding="utf-8")
    return re.findall(r"^```python[^\n]*\n(.*?)^```\s*$", text, flags=re.S | re.M)


def chapter(number: str) -> Path:
    found = sorted(HERE.glob(f"{int(number):02d}_*.md"))
    if not found:
        raise SystemExit(
            f"no chapter {number} in {HERE}; chapters: "
            + ", ".join(p.stem for p in sorted(HERE.glob("[0-9][0-9]_*.md")))
        )
    return found[0]


def run(path) -> None:
    """Execute a chapter's code cells in order in one namespace, as a notebook would."""
    path = Path(path)
    namespace = {"__name__": "__main__", "__file__": str(path)}
    os.chdir(REPO)
    sys.path.insert(0, str(HERE))
    start = time.perf_counter()
    for k, source in enumerate(code_cells(path), 1):
        exec(compile(source, f"{path.name} [cell {k}]", "exec"), namespace)
    print(f"{path.name}: {MODE} mode, {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python tutorials/book.py CHAPTER_NUMBER (e.g. 03)")
    run(chapter(sys.argv[1]))
