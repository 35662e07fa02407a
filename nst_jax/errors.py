"""The one exception type users see.

Every problem a user can cause (a bad path, an unknown layer, a weights file for the
wrong model, ...) is raised as `NstError` with a one-line message that names the
problem and the fix, `<what is wrong>; <what to do>` (tests/test_errors.py reads every
message in the code and checks both halves). The command line prints `error: <message>`
and exits with status 2; the Python API lets it propagate. Anything else is a bug in
nst_jax. May import: nothing.
"""


class NstError(ValueError):
    """A user-facing error: one line saying what is wrong and how to fix it."""


def one_line(message: str) -> str:
    """The message with its control characters escaped (a newline in a path would split
    it): what the command line prints."""
    return "".join(c if ord(c) >= 32 and ord(c) != 127 else repr(c)[1:-1] for c in message)
