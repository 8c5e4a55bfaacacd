"""The cluster rows' cluster: a ``dask scheduler`` and ``dask worker`` processes started as the
docs' scaling recipe starts them.
"""

import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from benchmarks.throughput.common import VENV_BIN


WORKER_ENV = {"DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False"}


@contextmanager
def dask_cluster(workers: int, work: Path, logs: Path) -> Iterator[str]:
    """A ``dask scheduler`` and ``dask worker --nworkers N --nthreads 1`` started by hand, as the
    docs' scaling page does: ``sbc run --scheduler`` then gives each replicate one core."""
    from distributed import Client

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    folder = work / f"cluster-{workers}w"
    folder.mkdir(parents=True, exist_ok=True)
    commands = [[str(VENV_BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                [str(VENV_BIN / "dask"), "worker", address, "--nworkers", str(workers), "--nthreads", "1",
                 "--no-dashboard", "--local-directory", str(folder)]]
    procs = []
    try:
        for i, cmd in enumerate(commands):
            with open(logs / f"cluster-{workers}w-{i}.log", "w") as out:
                procs.append(subprocess.Popen(cmd, cwd=folder, stdout=out, stderr=subprocess.STDOUT,
                                              start_new_session=True, env={**os.environ, **WORKER_ENV}))
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(workers, timeout=300)
        yield address
    finally:
        for proc in reversed(procs):
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
