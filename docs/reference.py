"""The reference pages, generated: the command line (from the parser `--help` prints) and
the Python API (from the package's exports and their docstrings).

`python -m nst_jax`'s options are built from `Config`'s fields (nst_jax/cli/flags.py:
`add_config_options`), so this page reads the same parser: one table per group, each
option with its values, default and help text as `--help` gives them. The other commands
(`batch`, `video`, ...) follow with their `--help` as printed.

The API page lists what `nst_jax` exports (its `__init__`'s table), each with its
signature, its docstring and a link to its module's annotated page.

    python docs/reference.py [api]     # the page's MyST source, to stdout
"""

import argparse
import contextlib
import importlib
import inspect
import io
import re
import sys
import textwrap
from typing import List

import annotate

import nst_jax
from nst_jax.cli import app, flags, stylize


def _cell(text: str) -> str:  # a Markdown table cell: one line, as annotate.markdown escapes it,
    text = annotate.markdown(re.sub(r"\s+", " ", text.replace("%%", "%")))  # ... and no bare pipe
    return re.sub(r"`[^`]*`", lambda m: m.group(0).replace("|", "\\|"), text)  # (in code spans too)


def _values(action: argparse.Action) -> str:
    if action.choices:
        return " \\| ".join(f"`{c}`" for c in action.choices)
    if action.nargs == 0:
        return "(a switch)"
    return f"`{action.metavar or action.dest.upper()}`"


def options(parser: argparse.ArgumentParser) -> List[str]:
    """Every option of `parser` (the long spelling), in the order of --help."""
    return [max(a.option_strings, key=len) for a in parser._actions if a.option_strings]


def stylize_section() -> List[str]:
    p = stylize.stylize_parser()
    out = [f"## `{p.prog} [CONTENT STYLE] [options]`", "", _cell(p.description or ""), ""]
    helper = flags.Help(p.prog)
    for group in p._action_groups:
        actions = [a for a in group._group_actions if a.help != argparse.SUPPRESS]
        if not actions:
            continue
        title = "arguments" if group.title == "positional arguments" else group.title
        out += [f"### {title}", "", "| option | values | help |", "|---|---|---|"]
        for a in actions:
            name = ", ".join(f"`{s}`" for s in a.option_strings) or f"`{a.metavar or a.dest}`"
            out.append(f"| {name} | {_values(a)} | {_cell(helper._get_help_string(a))} |")
        out.append("")
    return out


def command_help(name: str) -> str:
    """What `python -m nst_jax NAME --help` prints."""
    text = io.StringIO()
    with contextlib.redirect_stdout(text), contextlib.suppress(SystemExit):
        app.COMMANDS[name](["--help"])
    return text.getvalue()


def page() -> str:
    out = [
        "# Command-line reference",
        "",
        "Generated from the parsers themselves (the options of `python -m nst_jax` from "
        "`Config`'s fields, as `--help` shows them); `python -m nst_jax COMMAND --help` prints the same.",
        "",
    ]
    out += stylize_section()
    for name in app.COMMANDS:
        out += [f"## `python -m nst_jax {name}`", "", "```text", command_help(name).rstrip(), "```", ""]
    return "\n".join(out)


def api_page() -> str:
    out = [
        "# API reference",
        "",
        "What `import nst_jax` exports, generated from the code: each name's signature and "
        "docstring, and its module annotated. How to use them: [the guide](docs/guide/python_api.md).",
        "",
    ]
    for name, (module, attribute) in nst_jax._LAZY.items():
        where = importlib.import_module(module, "nst_jax")
        path = where.__name__.replace(".", "/") + (".md" if attribute else "/__init__.md")
        thing = getattr(where, attribute) if attribute else where
        out += [f"## `nst_jax.{name}`", "", f"[`{path[:-3]}.py`]({path})", ""]
        with contextlib.suppress(ValueError, TypeError):  # (an exception class has none)
            sig = inspect.signature(thing)
            params = ",\n".join(f"    {p}" for p in sig.parameters.values())
            kind = "class" if inspect.isclass(thing) else "def"
            out += ["```python", f"{kind} {name}(\n{params}\n)", "```", ""]
        out += [annotate.typeset(textwrap.dedent(inspect.getdoc(thing) or ""), []), ""]
    return "\n".join(out)


if __name__ == "__main__":
    print(api_page() if sys.argv[1:] == ["api"] else page())
