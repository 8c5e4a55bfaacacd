"""Helpers for tests that start real processes: `sbc run`, `dask scheduler`, `dask worker`.

Every process is started in a new session (its own process group), so a test can kill it and
everything it forked at once, and never touches processes it did not start. Jupyter kernels start
in sessions of their own (jupyter_client does that), so the tests also track every descendant by
pid and start time and check that none outlives its parent.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent  # the venv's bin folder: dask, sbc
SBC = [sys.executable, "-m", "sbc_helpers.cli"]

Proc = tuple[int, int]  # (pid, start time in clock ticks): a pid that is not reused


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, start time) of a process, None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = raw[raw.rindex(")") + 2:].split()  # after "pid (comm) "
    return fields[0], int(fields[1]), int(fields[19])


def descendants(root: int) -> set[Proc]:
    """Every running process below ``root`` in the parent tree, across sessions."""
    children: dict[int, list[int]] = {}
    starts = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat and stat[0] != "Z":
                children.setdefault(stat[1], []).append(int(entry.name))
                starts[int(entry.name)] = stat[2]
    found, stack = set(), [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.add((child, starts[child]))
            stack.append(child)
    return found


def alive(procs: set[Proc]) -> set[Proc]:
    """Those of ``procs`` still running (zombies count as ended)."""
    out = set()
    for pid, start in procs:
        stat = _stat(pid)
        if stat and stat[2] == start and stat[0] != "Z":
            out.add((pid, start))
    return out


def wait_gone(procs: set[Proc], timeout: float) -> set[Proc]:
    """Wait up to ``timeout`` seconds for ``procs`` to end; return the survivors."""
    deadline = time.monotonic() + timeout
    while (left := alive(procs)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


def kill(procs: set[Proc]) -> None:
    """SIGKILL those of ``procs`` still running (processes the test started, tracked by start time)."""
    for pid, _ in alive(procs):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def start(cmd: list, log: Path, cwd: Path | None = None, env: dict | None = None) -> subprocess.Popen:
    """Start ``cmd`` in a new session, its output appended to ``log``."""
    with open(log, "ab") as out:
        return subprocess.Popen([str(c) for c in cmd], cwd=cwd, env={**os.environ, **(env or {})},
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def stop(proc: subprocess.Popen, tracked: set[Proc] = frozenset()) -> set[Proc]:
    """SIGKILL ``proc``'s process group and reap it; wait for ``tracked`` descendants to end (they
    are killed if they outlive it by 30 s). Returns the descendants that had to be killed."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)
    survivors = wait_gone(set(tracked), 30)
    kill(survivors)
    return survivors


def sbc(*args, cwd=None, env=None, timeout=900, **options) -> subprocess.CompletedProcess:
    """``sbc ARGS`` run to its end, its output captured as text (``options``: more of ``subprocess.run``'s)."""
    return subprocess.run([*SBC, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **(env or {})}, timeout=timeout, **options)


def outside_attempts(address: str) -> dict[str, str]:
    """What a client without the run's certificate gets from the scheduler at ``address``
    (``tls://host:port``): over plain TCP, and over TLS without a certificate of its own. Each
    attempt asks the scheduler who it is; the value is "answered" or the error's type."""
    import asyncio
    import ssl

    from distributed.comm import connect

    hostport = address.split("://", 1)[1]
    anonymous = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    anonymous.check_hostname = False
    anonymous.verify_mode = ssl.CERT_NONE

    async def attempt(url: str, **kwargs) -> str:
        try:
            comm = await connect(url, timeout=5, **kwargs)
            await comm.write({"op": "identity", "reply": True})
            await asyncio.wait_for(comm.read(), 5)
            await comm.close()
            return "answered"
        except Exception as err:  # noqa: BLE001 - any refusal counts; its type is reported
            return type(err).__name__

    return {"tcp": asyncio.run(attempt(f"tcp://{hostport}")),
            "tls without certificate": asyncio.run(attempt(f"tls://{hostport}", ssl_context=anonymous))}
