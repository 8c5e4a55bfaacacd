"""Progress of a run: a bar where a person watches it, log lines elsewhere."""

from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger("sbc")


class LogProgress:
    """Progress for a log file or a pipe: one line at most every ``interval`` seconds, and a last one.

    tqdm writes carriage-return redraws there, and repeats its last state when it closes."""

    def __init__(self, total: int, name: str, interval: float = 30):
        self.total, self.name, self.interval = total, name, interval
        self.n, self.failed, self.last, self.shown = 0, 0, time.monotonic(), None

    def set_postfix(self, failed: int = 0, refresh: bool = False) -> None:
        self.failed = failed

    def update(self, n: int = 1) -> None:
        self.n += n
        if time.monotonic() - self.last >= self.interval and self.n < self.total:
            self._line()

    def _line(self) -> None:
        self.last, self.shown = time.monotonic(), self.n
        log.info("%s: %d/%d replicates, %d failed", self.name, self.n, self.total, self.failed)

    def close(self) -> None:
        if self.shown != self.n:
            self._line()


def progress_bar(total: int, name: str, show: bool):
    """A progress bar where a person watches it (a terminal, or a notebook widget in JupyterLab),
    log lines elsewhere."""
    from tqdm.auto import tqdm

    in_notebook = "ipykernel" in sys.modules
    if show and (in_notebook or sys.stderr.isatty()):
        return tqdm(total=total, desc=name, unit="replicate")
    if show:
        return LogProgress(total, name)
    return tqdm(total=total, disable=True)
