"""errors.py: every message a user can get says what is wrong and what to do, on one line.

The messages are read off the code itself: every `NstError(...)` call in the package,
its text with each `{...}` as a placeholder, so that a new message is checked the day it
is written."""

import ast
import re
from pathlib import Path

from nst_jax.errors import one_line

PACKAGE = Path(__file__).resolve().parent.parent / "nst_jax"


def _text(node) -> str:
    """A message's template: constants kept, formatted values as {}; {?} for any other
    expression (a message built elsewhere, which this test cannot read)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _text(node.left) + _text(node.right)
    return "{?}"


def messages():
    """[(file:line, template)] of every NstError raised in the package."""
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "NstError":
                where = f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
                out.append((where, _text(node.args[0]) if node.args else ""))
    return out


# Messages whose first half is built elsewhere, each a description of what is wrong:
DYNAMIC_WHAT = {
    ("nst_jax/cli/flags.py", "{}; see {} --help"),  # argparse's own message ("argument --size: ...")
    ("nst_jax/io/files.py", "{}; free some space, then {}"),  # "could not write X (why), kept it in Y"
}


def test_every_message_says_what_is_wrong_and_what_to_do():
    found = messages()
    assert len(found) > 80  # the reader sees them all (it would pass vacuously on none)
    bad = []
    for where, text in found:
        what, _, todo = text.rpartition("; ")
        if (where.split(":")[0], text) in DYNAMIC_WHAT:
            what = "(checked where it is built)"
        if "{?}" in text or not what.strip(" {}") or len(todo.strip(" {}")) < 4 or "\n" in text:
            bad.append(f"{where}: {text!r}")
    assert not bad, "messages without '<what is wrong>; <what to do>':\n" + "\n".join(bad)


# What a message can name its subject by: an option (--size, -o), a value shown ({...}: a
# path, a number, a layer), a positional argument as --help writes it (CONTENT, STYLE), an
# array handed in from Python, or the package to install.
SUBJECT = re.compile(r"--[a-z]|-o\b|\{\}|\b(CONTENT|STYLE|OUTPUT|OUTDIR)\b|\barray\b|pip install")


def test_every_message_names_the_option_or_file_it_is_about():
    """Issue 32, class 7: "no style images in ;", "out of memory" without the option that
    sets the size: a message must say what it is about, not only what went wrong."""
    unnamed = [f"{where}: {text!r}" for where, text in messages() if not SUBJECT.search(text)]
    assert not unnamed, "messages that name no option, file or value:\n" + "\n".join(unnamed)


def test_the_reader_flags_a_message_without_advice():
    code = 'raise NstError(f"size {n} is wrong")\nraise NstError(msg)\nraise NstError("a; b c d e")'
    texts = [_text(n.args[0]) for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Call)]
    assert texts == ["size {} is wrong", "{?}", "a; b c d e"]


def test_one_line_escapes_control_characters():
    assert one_line("image not found: a\nb.png; check") == "image not found: a\\nb.png; check"
    assert one_line("tab\there é") == "tab\\there é"
