"""The one exception type users see.

Every problem a user can cause (a bad path, an unknown layer, a weights file for the
wrong model, ...) is raised as `NstError` with a one-line message that names the
problem and the fix. The command line prints `error: <message>` and exits with
status 2; the Python API lets it propagate. Anything else is a bug in nst_jax.
"""


class NstError(ValueError):
    """A user-facing error: one line saying what is wrong and how to fix it."""
