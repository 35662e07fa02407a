"""Command-line parsing shared by every command: one-line errors, the help's defaults,
comma-separated values, and the options generated from `Config`.

`add_config_options` makes one flag per Config field (config.py), whose help, choices
and default are the field's, `--style-weight` for `style_weight`, grouped under
config.SECTIONS; `config_options` reads them back by name. A parse error raises NstError,
which the command line prints as one line with exit status 2.
"""

import argparse
import dataclasses
import typing
from pathlib import Path

from ..config import SECTIONS, Config
from ..errors import NstError
from ..io import files
from ..io.image_files import DEMO_CONTENT, DEMO_STYLE


def numbers(kind: typing.Callable, what: str) -> typing.Callable[[str], tuple]:
    def parse(text):  # '1,2.5' -> (1.0, 2.5)
        try:
            return tuple(kind(v) for v in text.split(",") if v.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got {text!r}") from None

    return parse


floats, ints = numbers(float, "numbers"), numbers(int, "integers")


def names(text: str) -> typing.Tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def batch_size(text: str):
    if text == "auto":
        return text
    if not text.isdecimal() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a number of images >= 1 or auto, got {text!r}")
    return int(text)


def paths(text: str) -> typing.List[str]:  # a,b.png -> [a, b.png], unless the whole text names a file
    return [text] if files.exists(text) else list(names(text))


# a Config field's type -> how its flag parses text (Optional[X] parses as X)
PARSERS = {
    int: int,
    float: float,
    str: str,
    typing.Tuple[int, ...]: ints,
    typing.Tuple[float, ...]: floats,
    typing.Tuple[str, ...]: names,
}


class Parser(argparse.ArgumentParser):
    def __init__(self, **kwargs):
        super().__init__(formatter_class=Help, **kwargs)

    def error(self, message: str) -> typing.NoReturn:  # one line via main(), not usage-then-exit
        raise NstError(f"{message}; see {self.prog} --help")


class Help(argparse.HelpFormatter):
    """Adds '(default: X)' to an option's help, unless it has no default (None, off) or
    its help says what the default is already."""

    def _get_help_string(self, action):
        text, default = action.help or "", action.default
        if not action.option_strings or "default" in text or default in (None, False, argparse.SUPPRESS):
            return text
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        return f"{text} (default: {str(shown).replace('%', '%%')})"


def flag(field: dataclasses.Field) -> str:
    return "--" + field.name.replace("_", "-")


def add_config_options(
    p: argparse.ArgumentParser, only: typing.Optional[typing.Sequence[str]] = None
) -> None:
    """One flag per Config field (or per field named in `only`), with the field's help,
    choices, type and default, grouped under config.SECTIONS."""
    hints, group = typing.get_type_hints(Config), typing.cast(typing.Any, p)  # p, then its groups
    for f in dataclasses.fields(Config):
        if only is not None and f.name not in only:
            continue
        if f.name in SECTIONS and only is None:
            group = p.add_argument_group(SECTIONS[f.name])
        kind = hints[f.name]
        kind = (
            next((a for a in typing.get_args(kind) if a is not type(None)), kind)
            if typing.get_origin(kind) is typing.Union
            else kind
        )
        help_text = f.metadata["help"].replace("%", "%%")
        if kind is bool:
            group.add_argument(flag(f), action="store_true", help=help_text)
            continue
        listed = typing.get_origin(kind) is tuple  # comma-separated values
        group.add_argument(
            flag(f),
            type=PARSERS[kind],
            default=f.default,
            help=help_text,
            choices=f.metadata["choices"],
            metavar="A,B,..." if listed else None,
        )


def config_options(a: argparse.Namespace) -> dict:
    """The Config fields of parsed arguments, by name (those the command has flags for)."""
    return {f.name: getattr(a, f.name) for f in dataclasses.fields(Config) if hasattr(a, f.name)}


def inputs_of(a, images: bool = True) -> typing.List[typing.Tuple[str, typing.Any]]:
    """What a command's outputs must not overwrite: its content and style images (unless
    images=False: the caller lists its own) and the weights file it will read, found as the
    run finds it."""
    from ..io import lookup as lk

    found = [(what, getattr(a, what.split()[0], None)) for what in ("content image", "style image") if images]
    return found + [("weights file", lk.find_weights(getattr(a, "weights", None), getattr(a, "model", None)))]


OUTPUTS = ("json", "plot", "markdown")  # the files a command writes at its end, if asked


def add_outputs(p: argparse.ArgumentParser, **what: str) -> None:
    """`--json FILE` (and `--plot`, `--markdown`): `what` says what each writes."""
    for name, text in what.items():
        assert name in OUTPUTS, name
        p.add_argument(f"--{name}", default=None, metavar="FILE", help=f"write {text}")


def check_outputs(a: argparse.Namespace, inputs: typing.Sequence = ()) -> typing.List[typing.Optional[Path]]:
    """The command's output files (OUTPUTS it has, in that order) checked before any work:
    writable, and none of them one of `inputs` (files.check_outputs)."""
    flags = [(f"--{name}", getattr(a, name), None) for name in OUTPUTS if hasattr(a, name)]
    return files.check_outputs(flags, list(inputs))


def write_json(a: argparse.Namespace, what: str, body: typing.Any) -> None:
    """`body` to --json, if given, atomically (kept elsewhere, and said, if it cannot be)."""
    if a.json:
        files.write_kept([(what, Path(a.json), files.json_writer(body))])


def add_web(p: argparse.ArgumentParser) -> None:
    """`--web [HOST:]PORT` and `--open`: the run shown live in a browser (web/preview.py)."""
    p.add_argument(
        "--web",
        default=None,
        metavar="[HOST:]PORT",
        help="show the run live on a page at http://127.0.0.1:PORT/ (0: any free port; a HOST "
        "such as 0.0.0.0 serves other machines, with a token in the URL); needs the web extra",
    )
    p.add_argument("--open", action="store_true", help="open the --web page in the system's browser")


def add_demo_pair(
    p: argparse.ArgumentParser, content: str = "content image", style: str = "style image"
) -> None:
    """CONTENT and STYLE: both, or neither for the bundled demo pair (`demo_pair` reads them)."""
    p.add_argument("content", nargs="?", help=f"{content} (give both, or neither: the demo's cat)")
    p.add_argument("style", nargs="?", help=f"{style} (neither: the demo's The Starry Night)")


def demo_pair(a: argparse.Namespace) -> typing.Tuple[str, str]:
    """(a.content, a.style) as given, or the demo pair when neither was: set on `a` too."""
    if (a.content is None) != (a.style is None):
        raise NstError("give both CONTENT and STYLE images; or neither, for the demo")
    if a.content is None:
        a.content, a.style = str(DEMO_CONTENT), str(DEMO_STYLE)
    return a.content, a.style
