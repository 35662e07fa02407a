"""A Python module as a page of the site: its notes in one column, its code in the other.

After labml's annotated implementations (nn.labml.ai): the module is cut into sections,
each a note (the full-line comments, or the docstring of the def or class that starts
the section) beside the lines of code it explains, with the file's own line numbers.
End-of-line comments (the shape comments, `# (H*W, C) -> (C, C)`) stay in the code.
The module docstring is the page's introduction. Notes are rendered as Markdown: the
backticked names stay code; `*`, `$` and `<`, which code comments use as arithmetic,
not as emphasis, math or HTML, are escaped. Below a paragraph that holds one of the
module's equations (equations.py), the equation follows as math.

    python docs/annotate.py nst_jax/paper/losses.py     # the page's MyST source, to stdout
"""

import ast
import re
import sys
import textwrap
from pathlib import Path
from typing import List, NamedTuple, Sequence, Tuple

from equations import EQUATIONS


class Section(NamedTuple):
    note: List[str]  # the comment or docstring lines, as written
    first: int  # the line number of the first code line (1-based)
    code: List[str]  # source lines, as in the file


def _docstrings(tree: ast.Module) -> Tuple[str, dict, set]:
    """The module docstring, {def or class line: its docstring}, and the lines docstrings span."""
    owners, spans = {}, set()
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)):
            continue
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            if isinstance(body[0].value.value, str) and body[0].end_lineno is not None:
                spans.update(range(body[0].lineno, body[0].end_lineno + 1))
                if not isinstance(node, ast.Module):
                    owners[_start(node)] = ast.get_docstring(node) or ""
    return ast.get_docstring(tree) or "", owners, spans


def _start(node) -> int:  # a def's first line, its decorators included
    return min([node.lineno] + [d.lineno for d in node.decorator_list])


def sections(source: str) -> Tuple[str, List[Section]]:
    """(the module docstring, the sections of the rest)."""
    tree = ast.parse(source)
    intro, owners, spans = _docstrings(tree)
    defs = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    starts = {_start(n) for n in ast.walk(tree) if isinstance(n, defs)}
    out: List[Section] = []
    note: List[str] = []
    code: List[str] = []
    first = 1

    def close():
        nonlocal note, code
        while code and not code[-1].strip():
            code.pop()  # no blank lines below either
        if note or code:
            out.append(Section(note, first, code))
        note, code = [], []

    for number, line in enumerate(source.splitlines(), 1):
        if number in spans:
            continue  # docstrings are notes (the module's: the introduction)
        comment = line.strip().startswith("#")
        if (comment or number in starts) and any(c.strip() for c in code):
            close()
        if comment:
            note.append(re.sub(r"^\s*# ?", "", line))
            continue
        if not code:
            if not line.strip():
                continue  # no blank lines on top of a section's code
            first = number
        if number in owners:
            note += ([""] if note else []) + owners[number].splitlines()
        code.append(line)
    close()
    return intro, out


def markdown(text: str) -> str:
    """A paragraph of comment or docstring text as Markdown that means what it says (see
    the top). A block indented 4 spaces is shown as code, as it stands."""
    if re.match(r" {4}", text):
        return text
    lines = []
    for line in text.splitlines():
        parts = re.split(r"(`[^`]*`)", line)  # outside backticks only
        line = "".join(p if p.startswith("`") else re.sub(r"([*$<\[\]|])", r"\\\1", p) for p in parts)
        if re.match(r"\s*(-{3,}|={3,}|#)", line):
            line = "\\" + line.lstrip()  # a rule, an underline or a leading #: not a heading
        lines.append(line)
    return "\n".join(lines)


def typeset(text: str, equations: Sequence[Tuple[str, str]]) -> str:
    """`text` as Markdown (see `markdown`), each paragraph or block followed by the
    equations it holds, as display math."""
    out = []
    for block in re.split(r"\n\s*\n", text):
        out.append(markdown(block))
        found = [tex for plain, tex in equations if plain in block]
        if found:
            out.append("$$\n\\begin{gathered}\n" + " \\\\[4pt]\n".join(found) + "\n\\end{gathered}\n$$")
    return "\n\n".join(out)


def page(path: Path, repo: Path, explained_by: List[Tuple[str, str]]) -> str:
    """The MyST source of the page for module `path` (`explained_by`: (chapter title, link))."""
    source = path.read_text(encoding="utf-8")
    intro, parts = sections(source)
    name = path.relative_to(repo).as_posix()
    equations = EQUATIONS.get(name, [])
    out = [f"# `{name}`", "", typeset(textwrap.dedent(intro), equations), ""]
    if explained_by:
        out += ["*Explained in:* " + ", ".join(f"[{title}]({link})" for title, link in explained_by), ""]
    for s in parts:
        fence = "`" * max(4, 1 + max((len(m) for m in re.findall(r"`+", "\n".join(s.code))), default=0))
        out += ["::::{container} annotated", ":::{container} annotated-note"]
        out += [typeset(textwrap.dedent("\n".join(s.note)), equations) if s.note else "&nbsp;", ":::"]
        out += [
            ":::{container} annotated-code",
            f"{fence}{{code-block}} python",
            f":lineno-start: {s.first}",
            "",
        ]
        out += [line.rstrip() for line in s.code] + [fence, ":::", "::::", ""]
    return "\n".join(out)


if __name__ == "__main__":
    module = Path(sys.argv[1]).resolve()
    print(page(module, Path(__file__).resolve().parent.parent, []))
