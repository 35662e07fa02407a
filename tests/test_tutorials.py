"""tutorials/: every chapter shows committed full-mode figures, opens as a notebook with
the cells book.py runs, and is listed in the README; book.py's modes.

Every chapter is run top to bottom in quick mode by the site's build (tests/test_docs.py:
each in a Jupyter kernel, as `python tutorials/book.py NN` would run it, a failing cell
failing the build, and each figure it shows made).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TUTORIALS = ROOT / "tutorials"
CHAPTERS = sorted(TUTORIALS.glob("[0-9][0-9]_*.md"))
sys.path.insert(0, str(TUTORIALS))
import book  # noqa: E402


def figures_shown(chapter: Path):
    return re.findall(r"!\[[^\]]*\]\(figures/([^)]+)\)", chapter.read_text(encoding="utf-8"))


def test_the_book_has_its_chapters():
    assert [c.name[:2] for c in CHAPTERS] == [f"{k:02d}" for k in range(1, len(CHAPTERS) + 1)]
    assert len(CHAPTERS) >= 8


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_full_mode_figures_are_committed_and_small(chapter):
    shown = figures_shown(chapter)
    assert shown, f"{chapter.name} shows no figure"
    for name in shown:
        path = TUTORIALS / "figures" / name
        assert path.is_file(), f"{chapter.name}: run `python tutorials/book.py {chapter.name[:2]}`"
        assert path.stat().st_size < 400_000, f"{path} is too large to commit"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_chapter_opens_as_a_notebook_with_the_same_cells(chapter):
    jupytext = pytest.importorskip("jupytext")
    nb = jupytext.read(chapter)
    cells = [c.source.strip() for c in nb.cells if c.cell_type == "code"]
    assert cells == [c.strip() for c in book.code_cells(chapter)]
    first = chapter.read_text(encoding="utf-8").split("```python")[0]
    assert "*Run it:*" in first and f"book.py {chapter.name[:2]}" in first  # how to run, on top
    assert "nst_jax/" in first  # the module(s) it explains


def test_readme_lists_every_chapter_with_its_module():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for chapter in CHAPTERS:
        rows = (line for line in readme.splitlines() if line.startswith("|"))  # the table's, not prose
        row = next((line for line in rows if f"tutorials/{chapter.name}" in line), None)
        assert row is not None, f"README has no table row for {chapter.name}"
        assert "nst_jax/" in row or "`" in row


def test_quick_mode_is_selected_by_the_environment(tmp_path):
    code = "import book; print(book.MODE, book.pick('full', 'quick'), book.figures_dir())"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=TUTORIALS,
        capture_output=True,
        text=True,
        env=dict(os.environ, NST_TUTORIAL="quick", NST_TUTORIAL_FIGURES=str(tmp_path)),
    )
    assert out.stdout.split() == ["quick", "quick", str(tmp_path)]
    bad = subprocess.run(
        [sys.executable, "-c", "import book"],
        cwd=TUTORIALS,
        capture_output=True,
        text=True,
        env=dict(os.environ, NST_TUTORIAL="fast"),
    )
    assert bad.returncode != 0 and "NST_TUTORIAL must be 'full' or 'quick'" in bad.stderr
