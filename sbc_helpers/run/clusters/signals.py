"""Signals around a cluster: the client stops its workers in order, whatever ends the run."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

from distributed.diagnostics.plugin import WorkerPlugin


class IgnoreInterrupt(WorkerPlugin):
    """Local workers leave Ctrl-C to the client, which stops them in order.

    A terminal sends SIGINT to the whole process group; workers that took it too would die mid-task
    with tracebacks, before the client could cancel their work and close the cluster. Workers of a
    cluster given with ``--scheduler`` are not touched.
    """

    name = "sbc-ignore-interrupt"

    def setup(self, worker) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)


def _raise_exit(signum, frame):
    raise SystemExit(128 + signum)


@contextmanager
def exit_on_signals():
    """While the block runs: SIGTERM and SIGHUP raise ``SystemExit(128 + signal)``, so that
    ``finally`` blocks cancel the jobs (by default they end the process on the spot)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.signal(sig, _raise_exit) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def import_jobqueue():
    """dask_jobqueue, without the SIGINT handler it installs when imported: ``sys.exit()``, which
    would turn Ctrl-C into a silent exit with code 0 and no message."""
    main = threading.current_thread() is threading.main_thread()
    before = signal.getsignal(signal.SIGINT) if main else None
    import dask_jobqueue

    if main and getattr(signal.getsignal(signal.SIGINT), "__module__", "") == "dask_jobqueue.runner":
        signal.signal(signal.SIGINT, before if callable(before) else signal.default_int_handler)
    return dask_jobqueue
