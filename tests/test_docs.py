"""docs/: the site builds (every chapter executed in quick mode, warnings as errors), the
short README lost nothing it held, the option reference is --help's, and the annotated
pages and mended links are what they say.

The build runs as `python docs/build.py --quick` would, in its own process: Sphinx with
MyST-NB runs each chapter in a Jupyter kernel, with the real VGG16 weights (the chapters
show real features) and quick-mode figures written to a temporary folder.
"""

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs"))
import annotate  # noqa: E402
import build  # noqa: E402
import equations  # noqa: E402
import reference  # noqa: E402

from nst_jax.cli import app, stylize  # noqa: E402

# the README's sections before the site (2026-12-07, 2,002 lines) -> the page that holds
# each now, and its heading there
MOVED = {
    "Set up": ("README.md", "Set up"),
    "Tests": ("docs/guide/install.md", "Tests"),
    "Command line": ("docs/guide/command_line.md", "Command line"),
    "The log": ("docs/guide/command_line.md", "The log"),
    "Artistic controls": ("docs/guide/command_line.md", "Artistic controls"),
    "Image size": ("docs/guide/command_line.md", "Image size: the same look at any size"),
    "The objective": ("docs/guide/objective.md", "The objective"),
    "Style losses": ("docs/guide/objective.md", "Style losses: `--style-loss gram|w2|sliced|meanstd`"),
    "Python API": ("docs/guide/python_api.md", "Python API"),
    "Many images": ("docs/guide/batches.md", "Many images, many devices: `python -m nst_jax batch`"),
    "Video": ("docs/guide/video.md", "Video: `python -m nst_jax video`"),
    "In a browser": ("docs/guide/web.md", "In a browser: `--web`"),
    "The studio": ("docs/guide/web.md", "The studio: `python -m nst_jax serve`"),
    "Backbones": ("docs/guide/backbones.md", "Backbones: VGG16, VGG19, ResNet50"),
    "ResNet50's style loss": (
        "docs/guide/backbones.md",
        "The style loss for ResNet50: `--style-normalization`",
    ),
    "Optimisers": ("docs/guide/optimizers.md", "Optimisers"),
    "Against PyTorch's L-BFGS": ("docs/guide/optimizers.md", "Against PyTorch's L-BFGS: the default memory"),
    "Cross-framework check": ("docs/guide/compare.md", "Cross-framework check: `python -m nst_jax compare`"),
    "Performance": ("docs/guide/performance.md", "Performance (this machine: 2 CPU cores, no GPU)"),
    "bench": ("docs/guide/performance.md", "JAX against PyTorch, one evaluation: `python -m nst_jax bench`"),
    "Coarse to fine": ("docs/guide/performance.md", "Coarse to fine: `--scales` / `--num-scales`"),
    "Memory": ("docs/guide/performance.md", "Memory, remat and precision"),
    "The largest images": ("docs/guide/performance.md", "The largest images: `--tile`"),
    "Loops on CPU": ("docs/guide/performance.md", "Loops on CPU"),
    "Compiled once": ("docs/guide/performance.md", "Compiled once: a second run, a batch"),
    "Time to quality": ("docs/guide/performance.md", "Time to quality against PyTorch's L-BFGS"),
    "The space": ("docs/guide/performance.md", "The space the optimiser moves in: `--param`"),
    "GPU": ("docs/guide/performance.md", "GPU: `python -m nst_jax bench gpu`"),
    "Modules": ("docs/guide/modules.md", "Modules"),
    "Tutorials": ("README.md", "The book and the site"),
    "Licenses": ("README.md", "Licenses"),
}


def headings(path: Path) -> list:
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.S | re.M)
    return [h.strip() for h in re.findall(r"^#{1,4} (.+)$", text, flags=re.M)]


def test_every_section_the_readme_held_has_its_page():
    for old, (page, heading) in MOVED.items():
        assert heading in headings(ROOT / page), f"README's old section {old!r}: no {heading!r} in {page}"
    pages = {ROOT / page for page, _ in MOVED.values() if page.startswith("docs/")}
    assert pages == set(build.GUIDE), "a guide page that no old README section moved to, or one missing"


def test_the_readme_is_short_and_points_at_every_guide_page():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    for page in build.GUIDE:
        assert f"(docs/guide/{page.name})" in readme, f"README does not link {page.name}"
    assert "python docs/build.py" in readme  # the one command that builds the site


def test_the_option_reference_is_the_help():
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        app.main(["--help"])
    helped = set(re.findall(r"^\s+(?:-\w(?: \S+)?, )?(--[a-z0-9-]+)", out.getvalue(), flags=re.M))
    listed = set(reference.options(stylize.stylize_parser()))
    assert listed == helped and len(listed) > 40
    page = reference.page()
    for option in listed:
        assert f"`{option}`" in page, option
    for name in app.COMMANDS:  # each command's own --help, as printed
        assert reference.command_help(name).strip() in page


SOURCE = '''"""The module's docstring."""

import math


# a comment about the constant: (H*W, C) and $HOME
SCALE = 2.0  # an end-of-line comment stays in the code


@staticmethod
def f(x):
    """What f does."""
    return x * SCALE
'''


def test_a_module_is_cut_into_notes_beside_their_code():
    intro, parts = annotate.sections(SOURCE)
    assert intro == "The module's docstring."
    assert [(s.note, s.first, s.code) for s in parts] == [
        ([], 3, ["import math"]),
        (
            ["a comment about the constant: (H*W, C) and $HOME"],
            7,
            ["SCALE = 2.0  # an end-of-line comment stays in the code"],
        ),
        (["What f does."], 10, ["@staticmethod", "def f(x):", "    return x * SCALE"]),
    ]
    # comments are not Markdown: `*` and `$` are themselves, a rule is not a heading
    assert annotate.markdown("(H*W) `a*b` $x$\n---") == "(H\\*W) `a*b` \\$x\\$\n\\---"
    assert annotate.markdown("    |a*b| <- c") == "    |a*b| <- c"  # an indented block: code, as it is


def test_every_typeset_equation_is_still_in_its_module():
    for module, pairs in equations.EQUATIONS.items():
        source = (ROOT / module).read_text(encoding="utf-8")
        for plain, tex in pairs:
            assert plain in source, f"{module} no longer says {plain!r}: mend docs/equations.py"
            assert tex.count("{") == tex.count("}"), tex
        page = annotate.page(ROOT / module, ROOT, [])
        shown = "".join(re.findall(r"^\$\$\n(.*?)^\$\$$", page, flags=re.S | re.M))  # display math
        for plain, tex in pairs:  # (a note beside its line may repeat the docstring's)
            assert tex in shown, f"{module}: {plain!r} is not typeset on its page"


def test_links_point_inside_the_site(tmp_path):
    page = ROOT / "tutorials" / "04_losses.md"
    text = (
        "[losses](../nst_jax/paper/losses.py) ![f](figures/04_layer_shares.png) [r](../README.md#set-up) "
        "[web](https://example.org) [here](#top)\n```python\nfns[k](x)\n```\n"
    )
    assert build.mend_links(text, page, tmp_path) == (
        "[losses](../nst_jax/paper/losses.md) ![f](figures/04_layer_shares.png) [r](../index.md#set-up) "
        "[web](https://example.org) [here](#top)\n```python\nfns[k](x)\n```\n"
    )
    assert (tmp_path / "tutorials" / "figures" / "04_layer_shares.png").is_file()  # the figure, copied
    with pytest.raises(SystemExit, match="the link nowhere.png names no file"):
        build.mend_links("![x](nowhere.png)", page, tmp_path)


@pytest.mark.slow
def test_the_site_builds_with_every_chapter_executed(real_vgg16, images, tmp_path):
    """`python docs/build.py --quick`: Sphinx with warnings as errors, every chapter run
    top to bottom in quick mode (a failing cell fails the build), the figures each chapter
    shows made, every module annotated."""
    figures = tmp_path / "figures"
    env = dict(
        os.environ,
        NST_TUTORIAL_FIGURES=str(figures),
        NST_JAX_WEIGHTS=str(real_vgg16),
        NST_JAX_IMAGES=str(images),
        NST_JAX_CACHE=str(tmp_path / "cache"),  # converted weights, shared by the chapters
    )
    run = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "build.py"), "--quick", "--out", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert run.returncode == 0, f"the site did not build:\n{run.stdout[-3000:]}\n{run.stderr[-6000:]}"
    html = tmp_path / "site" / "html"
    for chapter in build.CHAPTERS:
        page = (html / "tutorials" / f"{chapter.stem}.html").read_text(encoding="utf-8")
        assert "cell_output" in page, f"{chapter.name}: no printed result on its page"
        for name in re.findall(r"!\[[^\]]*\]\(figures/([^)]+)\)", chapter.read_text(encoding="utf-8")):
            assert (figures / name).is_file(), f"{chapter.name} shows figures/{name} but did not make it"
    for module in build.MODULES:
        page = html / module.relative_to(ROOT).with_suffix(".html")
        code = annotate.sections(module.read_text(encoding="utf-8"))[1]  # (none: a docstring alone)
        assert page.is_file() and ('class="annotated' in page.read_text(encoding="utf-8")) == bool(code), page
    assert (html / "cli.html").is_file() and (html / "docs" / "guide" / "performance.html").is_file()
