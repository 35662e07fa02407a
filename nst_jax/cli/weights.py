"""`python -m nst_jax weights`: where weights are looked for; fetch, convert, inspect a file (io/lookup.py, io/weights.py)."""

import typing
from pathlib import Path

from ..errors import NstError
from ..io import files
from .flags import (
    Parser,
)


def main(argv: typing.List[str]) -> int:
    from ..io import lookup as lk
    from ..io import weights as wt

    p = Parser(
        prog="python -m nst_jax weights",
        description="Show where VGG weights are "
        "looked for and what is found; fetch, convert or inspect a file.",
    )
    p.add_argument(
        "--fetch", choices=tuple(lk.URLS), help="download Keras' file to the user cache (checksum-verified)"
    )
    p.add_argument("--convert", metavar="H5", help="convert a Keras .h5 to our .npz (-o)")
    p.add_argument("-o", "--output", help="where --convert writes (default: beside the cache)")
    p.add_argument("--inspect", metavar="FILE", help="validate a .h5/.npz and list its layers")
    p.add_argument("--model", choices=tuple(lk.URLS), help="expected model")
    a = p.parse_args(argv)
    if a.fetch:
        print(f"saved {lk.download(a.fetch)}")
    elif a.convert:
        src = files.check_input(a.convert, "weights file")
        out = Path(a.output or wt.cache_dir() / (src.stem + ".npz"))
        if out.suffix != ".npz":
            raise NstError(f"--output {files.show(out)} should end in .npz; name it e.g. {out.stem}.npz")
        if a.output is None:
            out.parent.mkdir(parents=True, exist_ok=True)  # (the cache folder)
        files.check_outputs([("--output", out, None)], [("weights file", src)])
        model, params = wt.read_keras_h5(src, a.model)
        files.write_kept([("the converted weights", out, wt.npz_writer(model, params, wt.file_hash(src)))])
        print(f"{files.show(src)} ({model.upper()}) -> {files.show(out)}")
    elif a.inspect:
        print(wt.describe(a.inspect))
    else:
        print("Weights are looked for in this order (first found wins):")
        print("  1. --weights PATH")
        for k, (what, path) in enumerate(lk.search_path(a.model), 2):
            print(f"  {k}. {what:18s} {path}  [{'found' if path.is_file() else 'absent'}]")
        print(f"  then: download {' or '.join(lk.URLS[m] for m in ([a.model] if a.model else ['vgg19']))}")
        print(f"  (other models: --model {' / '.join(lk.URLS)})")
        print(f"Converted .npz caches live in {wt.cache_dir()}")
        found = lk.find_weights(None, a.model)
        print(f"Would use: {found or 'a download'}")
    return 0
