"""Build the documentation site from the repository, in one command (the `docs` extra):

    python docs/build.py            # full mode: the chapters as their committed figures
    python docs/build.py --quick    # quick mode (CI): tiny images, a few iterations
    python docs/build.py --fresh    # rerun every chapter instead of the cached ones
    python docs/build.py --no-run   # the pages without executing the chapters

The site (Sphinx, MyST-NB, the Furo theme) is OUT/html (default docs/_build/MODE/html):
  - the front page: README.md;
  - tutorials/: the ten chapters, executed; their printed results beside the figures;
  - docs/guide/: the reference and the measured studies (what the README does not hold);
  - nst_jax/: every module annotated, its notes beside its code (annotate.py);
  - cli, api: the command-line reference, from the parser `--help` prints, and the Python
    API, from the package's exports and docstrings (reference.py).

Sources are staged into OUT/src: each chapter becomes a MyST notebook (jupytext), and
links are mended on the way: to a module, its annotated page; to README.md, the front
page; to an image or another file of the repository, a copy of it. Executed chapters are
cached in OUT/cache by their cells' sources, so a rebuild reruns only what changed
(chapters import the package: after a change there, --fresh). Warnings are errors: a
broken link, a missing figure or a chapter that fails stops the build.
"""

import argparse
import os
import re
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(HERE), str(REPO)]
import annotate  # noqa: E402
import reference  # noqa: E402

CHAPTERS = sorted((REPO / "tutorials").glob("[0-9][0-9]_*.md"))
# the guide's pages, in reading order
ORDER = "install command_line objective python_api batches video web backbones optimizers compare performance modules"
GUIDE = [HERE / "guide" / f"{name}.md" for name in ORDER.split()]
MODULES = sorted(p for p in (REPO / "nst_jax").rglob("*.py"))
LINK = re.compile(r"(!?)\[((?:[^\[\]]|\[[^\]]*\])*)\]\(([^)\s]+)\)")  # ![text](target), [text](target)
FENCE = re.compile(r"^(`{3,}|~{3,}).*?^\1\s*$", flags=re.S | re.M)  # code blocks keep their brackets
EXTRA: list = []  # the repository's other Markdown files the pages link to: pages too
# the first cell of every chapter, hidden: what `python tutorials/book.py NN` does before it
# runs the cells (the repository as working folder, book importable), and its cells echo
# nothing (book.run executes them as statements)
SETUP = (
    "import os, sys\n"
    "os.chdir(os.environ['NST_JAX_REPO'])\n"
    "sys.path.insert(0, os.path.join(os.environ['NST_JAX_REPO'], 'tutorials'))\n"
    "get_ipython().ast_node_interactivity = 'none'"
)


def mend_links(text: str, page: Path, src: Path) -> str:
    """`text` of the repository's file `page` with its links pointing inside the site."""

    def mend(m: re.Match) -> str:
        bang, label, target = m.groups()
        if re.match(r"[a-z]+:|#", target):
            return m.group(0)  # a URL, or a place on the same page
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve()
        if not file.is_relative_to(REPO) or not file.exists():
            raise SystemExit(f"{page.relative_to(REPO)}: the link {target} names no file of the repository")
        where = file.relative_to(REPO)
        if file.is_dir():
            return label  # a folder: its name, not a link
        if file.suffix == ".py" and where.parts[0] == "nst_jax":
            target = os.path.relpath(file.with_suffix(".md"), page.parent)  # its annotated page
        elif file == REPO / "README.md":
            target = os.path.relpath(REPO / "index.md", page.parent) + (f"#{anchor}" if anchor else "")
        elif file.suffix == ".md" and file not in CHAPTERS + GUIDE:  # weights/README.md, ...
            if where not in EXTRA:
                EXTRA.append(where)
                (src / where).parent.mkdir(parents=True, exist_ok=True)
                (src / where).write_text(mend_links(file.read_text("utf-8"), file, src), "utf-8")
        elif file not in CHAPTERS + GUIDE:
            (src / where).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, src / where)  # a figure, or a file to read (a download)
        return f"{bang}[{label}]({target})"

    parts, end = [], 0
    for block in FENCE.finditer(text):
        parts += [LINK.sub(mend, text[end : block.start()]), block.group(0)]
        end = block.end()
    return "".join(parts + [LINK.sub(mend, text[end:])])


def chapter(path: Path, src: Path) -> None:
    import jupytext
    from nbformat.v4 import new_code_cell

    nb = jupytext.reads(mend_links(path.read_text(encoding="utf-8"), path, src), fmt="md")
    nb.cells.insert(0, new_code_cell(SETUP, metadata={"tags": ["remove-cell"]}))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata.pop("jupytext", None)  # (jupytext's reader's filters would drop the tags)
    jupytext.write(nb, src / "tutorials" / path.name, fmt="md:myst")


def toctree(caption: str, entries, hidden: bool = True) -> str:
    options = f":caption: {caption}\n:maxdepth: 1\n" + (":hidden:\n" if hidden else "")
    return "```{toctree}\n" + options + "\n" + "\n".join(entries) + "\n```\n"


def stage(src: Path) -> None:
    """Write the site's sources into `src` (see the top)."""
    shutil.rmtree(src, ignore_errors=True)
    EXTRA.clear()
    (src / "tutorials").mkdir(parents=True)
    for path in CHAPTERS:
        chapter(path, src)
    for path in GUIDE:
        (src / "docs" / "guide").mkdir(parents=True, exist_ok=True)
        (src / "docs" / "guide" / path.name).write_text(
            mend_links(path.read_text("utf-8"), path, src), "utf-8"
        )
    explained: dict = {}  # module -> the chapters that say they explain it
    for path in CHAPTERS:
        head = path.read_text(encoding="utf-8").split("```")[0]
        title = head.splitlines()[0].lstrip("# ")
        for module in re.findall(r"\]\(\.\./(nst_jax/[\w/]+\.py)\)", head):
            explained.setdefault(module, []).append((title, path))
    for path in MODULES:
        where = path.relative_to(REPO)
        (src / where).parent.mkdir(parents=True, exist_ok=True)
        chapters = [
            (title, os.path.relpath(c, path.parent)) for title, c in explained.get(where.as_posix(), [])
        ]
        text = annotate.page(path, REPO, chapters)
        (src / where.with_suffix(".md")).write_text(mend_links(text, path, src), encoding="utf-8")
    code = [p.relative_to(REPO / "nst_jax").with_suffix("").as_posix() for p in MODULES]
    intro = "# The code, annotated\n\nEvery module of the package, its notes beside its code.\n\n"
    (src / "nst_jax" / "index.md").write_text(intro + toctree("Modules", code, hidden=False), "utf-8")
    (src / "cli.md").write_text(reference.page(), encoding="utf-8")
    (src / "api.md").write_text(reference.api_page(), encoding="utf-8")
    readme = mend_links((REPO / "README.md").read_text(encoding="utf-8"), REPO / "README.md", src)
    trees = [
        toctree("Tutorials", [f"tutorials/{p.stem}" for p in CHAPTERS]),
        toctree("Guide", [f"docs/guide/{p.stem}" for p in GUIDE] + ["cli", "api"]),
        toctree("Code", ["nst_jax/index"]),
        toctree("Other files", [p.with_suffix("").as_posix() for p in EXTRA]),
    ]
    (src / "index.md").write_text(readme + "\n" + "\n".join(trees), encoding="utf-8")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="run the chapters in quick mode (CI)")
    p.add_argument("--fresh", action="store_true", help="rerun every chapter (drop the cache)")
    p.add_argument("--no-run", action="store_true", help="do not execute the chapters (a look at the pages)")
    p.add_argument("--out", type=Path, default=None, help="build folder (default docs/_build/MODE)")
    a = p.parse_args(argv)
    mode = "quick" if a.quick else "full"
    out = (a.out or HERE / "_build" / mode).resolve()
    if a.fresh:
        shutil.rmtree(out / "cache", ignore_errors=True)
    os.environ.update(NST_TUTORIAL=mode, NST_JAX_REPO=str(REPO), NST_DOCS_CACHE=str(out / "cache"))
    os.environ["NST_DOCS_EXECUTE"] = "off" if a.no_run else "cache"
    os.environ.setdefault("MPLBACKEND", "Agg")  # figures are files the chapters show, not outputs
    os.environ.setdefault("KERAS_BACKEND", "torch")  # chapters 5 and 9 ask Keras (the tutorials extra)
    stage(out / "src")
    from sphinx.cmd.build import build_main

    args = ["-W", "--keep-going", "-q", "-b", "html", "-c", str(HERE), "-d", str(out / "doctrees")]
    status = build_main(args + [str(out / "src"), str(out / "html")])
    if status == 0:
        print(f"the site: {out / 'html' / 'index.html'}")
    return status


if __name__ == "__main__":
    sys.exit(main())
