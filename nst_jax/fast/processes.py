"""Joining the processes of a multi-process batch, before JAX's first computation.

    check_coordinator(...)   HOST:PORT and the counts, checked before anything is created
    connect(...)             jax.distributed.initialize: given a coordinator, or as the
                             environment tells JAX (a job step of srun with several tasks)
    rendezvous(...)          the processes meet on the coordinator's port first

Why a rendezvous of our own: `jax.distributed.initialize` waits in C++, deaf to Ctrl-C and
SIGTERM, and when a process never comes it aborts the whole process after its timeout with
a C++ stack trace. So the processes given a coordinator first meet in Python: process 0
listens on the port until processes 1..N-1 have each said `nst_jax <id> <N>`, answers `go`
and closes it; JAX's own service then takes the port and its wait is short. Waiting longer
than `--connect-timeout`, or processes given different counts, is a one-line error naming
the coordinator and who is missing; a signal ends the wait (signals.arm).
"""

import os
import socket
import sys
import time
from typing import Any, Optional

import jax

from ..errors import NstError

CONNECT_TIMEOUT = 60.0  # s: two processes started together meet in well under a second (tests)


def connect(
    coordinator: Optional[str] = None,
    num_processes: Optional[int] = None,
    process_id=None,
    timeout: float = CONNECT_TIMEOUT,
    say: bool = True,
) -> bool:
    """Join the other processes, when there are any: with a coordinator HOST:PORT (all
    of them met first, `rendezvous`, within `timeout` s), or as the environment tells JAX
    (a job step of srun with more than one task). Returns whether this is a multi-process
    run. Must come before JAX's first computation."""
    detected = int(os.environ.get("SLURM_STEP_NUM_TASKS", "1")) > 1  # (srun's tasks; not salloc's)
    if coordinator is None and not detected:
        return False
    if coordinator is not None:
        check_coordinator(coordinator, num_processes, process_id)
        assert isinstance(num_processes, int) and isinstance(process_id, int)  # (checked)
        rendezvous(coordinator, num_processes, process_id, timeout, say)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # (CPU devices' collectives; GPUs: NCCL)
    if coordinator is None:
        jax.distributed.initialize()  # (the cluster's environment names the coordinator)
    else:  # (everyone is there: JAX's own wait is short)
        jax.distributed.initialize(coordinator, num_processes, process_id, initialization_timeout=60)
    return jax.process_count() > 1


def check_coordinator(coordinator: str, num_processes: Any, process_id: Any) -> None:
    """HOST:PORT, a port in 1..65535, a host that resolves, and 0 <= process_id <
    num_processes: checked before JAX waits for the others (a wrong one waits for minutes
    and then aborts in C++), each a one-line error."""

    host, _, port = coordinator.rpartition(":")
    if not host or not port.isdecimal() or not 0 < int(port) < 65536:
        raise NstError(
            f"--coordinator takes HOST:PORT, got {coordinator!r}; e.g. --coordinator localhost:29431"
        )
    if not isinstance(num_processes, int) or num_processes < 1:
        raise NstError(f"--num-processes must be at least 1, got {num_processes}; e.g. --num-processes 2")
    if not isinstance(process_id, int) or not 0 <= process_id < num_processes:
        raise NstError(
            f"--process-id must be in 0..{num_processes - 1}, got {process_id}; number the processes from 0"
        )
    try:
        socket.getaddrinfo(host.strip("[]"), int(port))
    except (OSError, UnicodeError) as e:
        raise NstError(
            f"--coordinator host {host!r} cannot be resolved ({getattr(e, 'strerror', None) or e}); "
            "check the name, or give the coordinator machine's address"
        ) from None


def rendezvous(coordinator: str, num_processes: int, process_id: int, timeout: float, say=True) -> None:
    """Every process of the job present (the module docstring), or a one-line NstError
    within `timeout` s: process 0 gathers (`say`: saying so on stderr), the others join,
    retrying until they get in."""
    host, _, port = coordinator.rpartition(":")
    if num_processes > 1:
        deadline = time.monotonic() + timeout
        if process_id == 0:
            _gather(int(port), num_processes, deadline, coordinator, say)
        else:
            _join(host.strip("[]"), int(port), num_processes, process_id, deadline, coordinator)


def _gather(port, n, deadline, coordinator, say) -> None:
    dual = socket.has_dualstack_ipv6()  # (every interface, as JAX's own service after it)
    try:
        server = socket.create_server(
            ("", port), family=socket.AF_INET6 if dual else socket.AF_INET, dualstack_ipv6=dual
        )
    except OSError as e:
        raise NstError(
            f"--coordinator {coordinator}: cannot listen on port {port} ({e.strerror}); choose another port"
        ) from None
    if say:
        print(f"process 0: waiting for processes 1..{n - 1} at {coordinator}", file=sys.stderr)
    peers: dict = {}  # process id -> its connection
    answer = b"abort\n"  # (what they hear if this process gives up)
    with server:
        server.settimeout(0.2)
        try:
            while len(peers) < n - 1:
                if time.monotonic() > deadline:
                    missing = ", ".join(str(p) for p in range(1, n) if p not in peers)
                    raise NstError(
                        f"--coordinator {coordinator}: process(es) {missing} did not connect in time; "
                        "start them with the same --coordinator and --num-processes, or raise --connect-timeout"
                    )
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    continue
                conn.settimeout(2.0)
                words = _line(conn)  # nst_jax <id> <N>; a stranger, or silence, is dropped
                if len(words) == 3 and words[0] == "nst_jax" and words[2] != str(n):
                    conn.sendall(f"stop {n}\n".encode())
                    raise NstError(
                        f"process {words[1]} was given --num-processes {words[2]}, process 0 {n}; "
                        "give every process the same --num-processes"
                    )
                if len(words) != 3 or words[0] != "nst_jax" or not words[1].isdecimal():
                    conn.close()  # (not one of ours)
                    continue
                if int(words[1]) in peers or not 0 < int(words[1]) < n:
                    peers[-1] = conn  # (told to stop with the others)
                    raise NstError(
                        f"a second process {words[1]} came to {coordinator}, or one outside 1..{n - 1}; "
                        "give each process its own --process-id"
                    )
                peers[int(words[1])] = conn
            answer = b"go\n"
        finally:
            for conn in peers.values():
                try:
                    conn.sendall(answer)
                    conn.recv(1)  # (the other closes first: the port is free for JAX at once)
                except OSError:
                    pass  # (that one is gone: it finds out itself)
                conn.close()


def _line(s: socket.socket) -> list:
    """The words of one short line from `s` ([] on silence or a closed connection)."""
    data = b""
    try:
        while not data.endswith(b"\n") and len(data) < 100 and (chunk := s.recv(100)):
            data += chunk
    except OSError:
        pass
    return data.decode(errors="replace").split()


def _join(host, port, n, pid, deadline, coordinator) -> None:
    why = "nothing answered"
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=max(0.1, deadline - time.monotonic())) as s:
                s.sendall(f"nst_jax {pid} {n}\n".encode())
                words = _line(s)
        except OSError as e:  # (refused: process 0 is not listening yet; retry)
            why, words = e.strerror or str(e), []
        if words[:1] == ["go"]:
            return
        if words[:1] == ["stop"]:
            raise NstError(
                f"process 0 at {coordinator} was given --num-processes {' '.join(words[1:2])}, this one {n}; "
                "give every process the same --num-processes"
            )
        if words[:1] == ["abort"]:
            raise NstError(f"process 0 at {coordinator} stopped waiting for the others; see its error")
        time.sleep(0.2)
    raise NstError(
        f"--coordinator {coordinator}: process 0 could not be reached in time ({why}); "
        "start process 0 there, check the host and port, or raise --connect-timeout"
    )
