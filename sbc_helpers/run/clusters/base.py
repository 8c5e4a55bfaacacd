"""What every kind of cluster declares, and the start-up wait they share."""

from __future__ import annotations

import re
import time
from contextlib import AbstractContextManager

from sbc_helpers.errors import ClusterUnavailable, one_line


class Kind:
    """A kind of cluster: its name (``cluster.kind``, ``--cluster``), its title in messages, whether
    it takes ``jobs``/``adapt``/``settings``, which settings it takes (``check``), and ``client``,
    which starts it, yields a Dask client on it, and stops it when the block ends."""

    name: str
    title: str
    order: int = 1  # place in the lists of kinds (local first)
    scaled: bool = True  # takes jobs, adapt and settings

    def check(self, settings: dict) -> None:
        """Raise ``ValueError`` (one line) naming the first of ``settings`` this kind does not take."""

    def client(self, spec, workers: int | None) -> AbstractContextManager:
        """A context manager yielding a Dask client on a cluster of this kind, set up from ``spec``
        (``run.params.Cluster``; ``workers``: the local cluster's processes)."""
        raise NotImplementedError


def job_counts(spec) -> tuple[int, int]:
    """(minimum, maximum) jobs: ``jobs`` for both, else ``adapt``, else one job."""
    if spec.adapt:
        return tuple(spec.adapt)
    return (spec.jobs or 1, spec.jobs or 1)


def command_errors(text: str) -> str:
    """The ``error:`` parts of a command's or service's output, joined; else the output on one line."""
    errors = [re.split(r"(?:error|fatal):", line, maxsplit=1)[1].strip()
              for line in text.splitlines() if re.search(r"(?:error|fatal):", line)]
    return one_line("; ".join(dict.fromkeys(errors)) if errors else text)


def wait_for_a_worker(client, title: str, timeout: float, problem, describe) -> float:
    """Wait until a worker has joined; ``problem()`` returns a one-line reason to stop waiting early,
    or None; ``describe()`` says what was pending when the time is up. Returns the seconds waited."""
    start = time.monotonic()
    while not client.scheduler_info(n_workers=1).get("workers"):
        if (reason := problem()) is not None:
            raise ClusterUnavailable(reason)
        if time.monotonic() - start > timeout:
            raise ClusterUnavailable(f"no {title} worker started within {timeout:g} s (cluster.timeout): {describe()}")
        time.sleep(0.25)
    return time.monotonic() - start
