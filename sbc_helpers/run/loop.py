"""The loop of a run: submit its tasks to Dask, save each outcome as it arrives, retry a failed
replicate up to ``retries`` more times, stop a unit whose first replicates all fail alike
(``FailureWatch``) or whose sequential verdict is sure (its monitor), and count what happened
(``RunResult``)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from sbc_helpers.contract import Outcome, Record, replicate_path
from sbc_helpers.errors import one_line
from sbc_helpers.run import store
from sbc_helpers.run.execute import ReplicateTask, execute_replicate
from sbc_helpers.run.params import Campaign
from sbc_helpers.run.progress import progress_bar
from sbc_helpers.run.seeds import replicate_seed

log = logging.getLogger("sbc")


@dataclass
class RunResult:
    """What one run did: replicates run now, skipped as already done, failed after retries, and
    units stopped early (unit -> the one-line reason)."""

    campaign_dir: Path
    ran: int = 0
    skipped: int = 0
    failed: list[tuple[str, int]] = field(default_factory=list)
    recovered: int = 0
    stopped: dict[str, str] = field(default_factory=dict)  # units stopped because they kept failing
    decided: dict[str, str] = field(default_factory=dict)  # sequential units: why each stopped


class FailureWatch:
    """Stops a unit whose first ``k`` replicates to finish all fail with the same error."""

    def __init__(self, k: int, done: int):
        self.k = k
        self.succeeded = done
        self.failures: dict[tuple[str, str], list[int]] = defaultdict(list)

    def see(self, record: Record) -> tuple[str, str, int] | None:
        """Note one finished attempt; the (error, message, lowest failing replicate) to stop on, if
        any (the lowest, not the first to finish: the same notebook whichever worker was faster)."""
        if record.status == "ok":
            self.succeeded += 1
            return None
        same = self.failures[(record.error or "", record.message or "")]
        if record.replicate not in same:
            same.append(record.replicate)
        if self.k and not self.succeeded and len(same) >= self.k:
            return record.error or "", record.message or "", min(same)
        return None


def _failure(task: ReplicateTask, err: BaseException) -> Outcome:
    """The outcome of a replicate whose worker never returned (lost worker, cancelled)."""
    message = one_line((str(err).strip().splitlines() or [type(err).__name__])[0])
    if type(err).__name__ == "KilledWorker":
        message = f"the worker running it died (lost worker): {message}"
    return Outcome(record=Record.failed(task.replicate, task.seed, type(err).__name__, message))


class ReplicateLoop:
    """One pass over the tasks: submit, save each outcome as it arrives, retry, stop units that keep
    failing or whose sequential verdict is sure."""

    def __init__(self, client, tasks, campaign: Campaign, folder: Path, result: RunResult, progress: bool,
                 monitors: dict | None = None):
        self.client, self.campaign, self.folder, self.result = client, campaign, folder, result
        self.monitors = monitors or {}
        self.run_id = uuid.uuid4().hex[:8]  # keys unique to this run: a shared cluster never mixes runs
        self.attempts = {(t.unit, t.replicate): 1 for t in tasks}
        self.errors: dict[tuple[str, int], list[str]] = {}
        done = defaultdict(int)
        for unit in campaign.units():
            done[unit.name] = campaign.replicates - sum(t.unit == unit.name for t in tasks)
        self.watch = {u.name: FailureWatch(campaign.stop_after_failures, done[u.name]) for u in campaign.units()}
        self.futures = {self._submit(t, 1): t for t in tasks}
        self.bar = progress_bar(len(tasks), campaign.name, progress)

    def _submit(self, task: ReplicateTask, attempt: int):
        # the key's prefix puts every replicate in one Dask task group ("sbc-replicate", cut at the run id)
        key = f"sbc-replicate-{self.run_id}-{self.campaign.name}-{task.unit}-{task.replicate}-attempt{attempt}"
        return self.client.submit(execute_replicate, task, pure=False, key=key)

    def go(self) -> None:
        from dask.distributed import as_completed

        queue = as_completed(self.futures)
        try:
            for future in queue:
                task = self.futures.pop(future, None)
                if task is None:  # cancelled when its unit stopped
                    continue
                try:
                    outcome = future.result()
                except (Exception, asyncio.CancelledError) as err:  # the worker died or was lost
                    outcome = _failure(task, err)
                finally:
                    future.release()
                retry = self._save(task, outcome)
                if retry is not None:
                    queue.add(retry)
        except KeyboardInterrupt:
            for future in self.futures:
                future.cancel()
            raise
        finally:
            self.bar.close()

    def _save(self, task: ReplicateTask, outcome: Outcome):
        """Store an outcome; return the retry's future when one is due."""
        which = (task.unit, task.replicate)
        tries = self.attempts[which]
        update = {"attempts": tries}
        if self.errors.get(which):  # what the earlier attempts died of
            update["earlier_errors"] = "; ".join(self.errors[which])
        record = outcome.record = outcome.record.model_copy(update=update)
        store.save_replicate(store.unit_dir(self.folder, task.unit), outcome)
        if task.unit not in self.result.stopped and task.unit not in self.result.decided:
            # (a replicate still running when its unit stopped is kept as it is)
            stop = self.watch[task.unit].see(record)
            if stop:
                self._stop_failing(task.unit, *stop)
                self._finish(which, record)
                return None
            if record.status != "ok" and tries <= self.campaign.retries:
                self.errors.setdefault(which, []).append(record.error or "")
                self.attempts[which] = tries + 1
                future = self._submit(task, tries + 1)
                self.futures[future] = task
                log.warning("%s replicate %d failed (%s); retrying", task.unit, task.replicate, record.error)
                return future
        self._finish(which, record, outcome.ranks)
        return None

    def _finish(self, which: tuple[str, int], record: Record, ranks=None) -> None:
        """Count a replicate that is done with: it succeeded, or failed after its retries; in a
        sequential campaign, apply the stopping rule."""
        if record.status == "ok":
            self.result.ran += 1
            self.result.recovered += record.attempts > 1
            log.debug("%s replicate %d ok in %.1f s (attempt %d)", *which, record.wall_seconds or float("nan"),
                      record.attempts)
        elif record.status == "failed":
            self.result.failed.append(which)
            level = logging.DEBUG if which[0] in self.result.stopped else logging.ERROR
            log.log(level, "%s replicate %d failed: %s: %s", *which, record.error, record.message)
        self.bar.set_postfix(failed=len(self.result.failed), refresh=False)
        self.bar.update(1)
        unit = which[0]
        monitor = self.monitors.get(unit)
        if monitor is not None and record.status != "not_run" and unit not in self.result.decided:
            decision = monitor.add(which[1], ranks if record.status == "ok" else None)
            if decision.reason:
                self.result.decided[unit] = decision.line(self.campaign.replicates)
                log.info("%s %s", unit, self.result.decided[unit])
                for replicate in self._cancel_queued(unit):
                    self.bar.update(1)

    def _running(self) -> set[str]:
        """Keys of the tasks workers are running now."""
        try:
            return {str(key) for keys in self.client.processing().values() for key in keys}
        except Exception:  # noqa: BLE001 - a scheduler that cannot say: treat everything as queued
            return set()

    def _cancel_queued(self, unit: str) -> list[int]:
        """Cancel a unit's replicates that have not started; those running finish and are kept."""
        running = self._running()
        cancelled = []
        for future, task in list(self.futures.items()):
            if task.unit == unit and future.key not in running:
                future.cancel()
                del self.futures[future]
                cancelled.append(task.replicate)
        return sorted(cancelled)

    def _stop_failing(self, unit: str, error: str, message: str, first: int) -> None:
        """Stop a unit whose replicates keep failing alike: cancel its queued replicates and record
        the ones that never ran as not run."""
        notebook = replicate_path(store.unit_dir(self.folder, unit), first, "notebook")
        reason = (f"stopped: its first {self.campaign.stop_after_failures} replicates failed with "
                  f"{error}: {message} (see {notebook}); fix it and run the same command to resume")
        self.result.stopped[unit] = reason
        log.error("%s %s", unit, reason)
        folder = store.unit_dir(self.folder, unit)
        for r in self._cancel_queued(unit):
            record = store.read_record(folder, r)
            if record is None:
                record = Record.not_run(r, replicate_seed(self.campaign.seed, unit, r), f"not run: the unit was {reason}")
                store.save_replicate(folder, Outcome(record=record))
            self._finish((unit, r), record)
