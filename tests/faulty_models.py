"""Model builders that misbehave inside a replicate's kernel, for the fault-injection tests.

``faulty(design, mode, replicates, once_dir)`` builds the conjugate ``normal_normal`` model (exact
draws make a replicate cheap: these tests are about faults, not fits), except inside the
replicate kernel of one of ``replicates`` (read from the notebook's ``replicate`` parameter), where it:

- ``raise``: raises RuntimeError (the cell fails: PapermillExecutionError)
- ``die``: ends the kernel process with ``os._exit(1)`` (DeadKernelError)
- ``hang``: sleeps for an hour (CellTimeoutError once the replicate's timeout passes)
- ``kill_worker``: SIGKILLs its parent, the Dask worker process (a lost worker)

With ``once_dir``, it misbehaves only on the first attempt: it leaves a marker file there first, so
the retry finds it and builds normally. Outside a kernel (the runner's preflight) it always builds
normally. Deterministic: no clocks, no randomness.
"""

import os
import signal
import time
from pathlib import Path

from sbc_helpers.models.library import normal_normal


def _replicate() -> int | None:
    """The replicate index of the notebook running in this kernel, or None outside a kernel."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return None if shell is None else shell.user_ns.get("replicate")


def faulty(design, mode: str = "ok", replicates: list[int] = (), once_dir: str | None = None):
    model = normal_normal(design)
    replicate = _replicate()
    if replicate is None or replicate not in replicates:
        return model
    if once_dir:
        marker = Path(once_dir) / f"{mode}-{replicate}"
        if marker.exists():
            return model
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    if mode == "raise":
        raise RuntimeError(f"injected failure in replicate {replicate}")
    if mode == "die":
        os._exit(1)
    if mode == "hang":
        time.sleep(3600)
    if mode == "kill_worker":
        os.kill(os.getppid(), signal.SIGKILL)
        time.sleep(60)  # the worker is gone; so, soon, is this kernel
    return model
