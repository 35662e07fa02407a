"""Ctrl-C (SIGINT) and SIGTERM (what a job scheduler, `timeout` or a container stop
sends) end a run the same way: the work done so far is written, then the process exits
with status 128 + the signal's number (130, 143).

    defer()       while the command starts (__main__.py): a signal is remembered, not
                  raised (an exception thrown into jaxlib's initialisation becomes an
                  ImportError or a C++ abort), until
    arm()         after the imports: a remembered signal raises `Stopped` now, and any
                  later one when it comes; the command line prints it as one line
    StopFlag()    during the iterations (monitor.py): the first signal sets the flag (the
                  loop finishes its chunk and the image so far is written), a second
                  raises `Stopped`; the same around the final writes, so that one
                  signal does not cut them short

Handlers are only installed from the main thread (Python allows no other); elsewhere
these do nothing and signals keep their previous meaning.
"""

import signal
import threading
from typing import Dict, List, Optional

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stopped(KeyboardInterrupt):
    """The run was stopped by a signal before it could write anything more."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def status(self) -> int:  # the shell's convention: 128 + the signal's number
        return 128 + self.signum


def _raise(signum, frame):
    raise Stopped(signum)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


_pending: List[int] = []  # the signals received between defer() and arm()


def defer() -> None:
    """SIGINT and SIGTERM are remembered until arm()."""
    if _main_thread():
        for s in SIGNALS:
            signal.signal(s, lambda signum, frame: _pending.append(signum))


def arm() -> None:
    """SIGINT and SIGTERM raise Stopped (instead of KeyboardInterrupt, or death); one
    received since defer() raises it now."""
    if _main_thread():
        for s in SIGNALS:
            signal.signal(s, _raise)
    if _pending:
        raise Stopped(_pending[0])


class _Handling:
    """A context in which SIGINT and SIGTERM call self._handle; the previous handlers
    are restored on exit."""

    signum: Optional[int] = None  # the first signal received, if any
    previous: Dict = {}

    def __enter__(self):
        self.signum, self.previous = None, {}  # previous: {signal: its handler before}
        if _main_thread():
            self.previous = {s: signal.signal(s, self._handle) for s in SIGNALS}
        return self

    def _handle(self, signum, frame):
        raise NotImplementedError

    def __exit__(self, *exc):
        for s, handler in self.previous.items():
            signal.signal(s, handler)
        self.previous = {}

    @property
    def set(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> Optional[str]:
        return None if self.signum is None else signal.Signals(self.signum).name


class StopFlag(_Handling):
    """The first signal sets the flag (finish the chunk, return); a second raises Stopped."""

    def _handle(self, signum, frame):
        if self.signum is not None:
            raise Stopped(signum)
        self.signum = signum

    def ask(self, signum: int = signal.SIGINT) -> None:
        """What the first `signum` would do, asked by the program (a page's Stop button)."""
        if self.signum is None:
            self.signum = signum
