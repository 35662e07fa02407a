"""signals.py: SIGINT and SIGTERM set the stop flag once, stop for good the second time,
and leave the previous handlers in place afterwards."""

import os
import signal

import pytest

from nst_jax.io.signals import StopFlag, Stopped


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_first_signal_sets_the_flag_second_stops(signum):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with StopFlag() as flag:
        assert not flag.set and flag.name is None
        os.kill(os.getpid(), signum)  # handled before kill returns (main thread)
        assert flag.set and flag.name == signal.Signals(signum).name
        with pytest.raises(Stopped) as e:
            os.kill(os.getpid(), signum)
    assert e.value.status == 128 + signum and e.value.name == flag.name
    assert isinstance(e.value, KeyboardInterrupt)  # what Python code already expects of Ctrl-C
    assert {s: signal.getsignal(s) for s in before} == before
