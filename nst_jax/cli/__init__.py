"""The command line: `python -m nst_jax` and its subcommands, one module each.

    app.py       `main`: the command picked, errors as one line, exit statuses
    flags.py     what the commands share: Config's options as flags, value parsers, the
                 inputs a command's outputs must not overwrite
    stylize.py   the single-image command (no subcommand)
    batch.py, layers.py, weights.py, bench.py, compare.py, score.py: the subcommands

A new subcommand is a module here with `main(argv) -> int`, listed in app.COMMANDS.
May import: everything.
"""
