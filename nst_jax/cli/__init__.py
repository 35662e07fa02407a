"""The command line: `python -m nst_jax` and its subcommands.

    app.py       `main`: dispatch, the single-image command, errors as one line and exit codes
    flags.py     flags generated from Config's fields (one per option, with its help)
    commands.py  the other subcommands: batch, score, weights, compare, bench

A new subcommand goes here. May import: everything.
"""
