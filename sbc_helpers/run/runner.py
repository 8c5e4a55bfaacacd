"""Runner: fan a campaign's missing replicates out on Dask, save each one as it arrives.

Only this process writes under the output folder, and user files (``file.py:function`` references,
CSV/Parquet designs) travel with each task, so workers need no shared filesystem.

A replicate that fails (an exception in a cell, a dead kernel, a timeout, a kernel that does not
start, a lost worker) is recorded and submitted again, up to ``retries`` more times; the rest of the
campaign goes on. Each retry runs on a new kernel: a worker discards its kernel after any failure.
A unit whose first ``stop_after_failures`` replicates all fail with the same error, before any
succeeds, is stopped: its other replicates are recorded as not run, and a rerun after the fix
resumes it. In a sequential campaign a unit also stops once its verdict is sure
(``run/sequential.py``): its queued replicates are cancelled, those running finish and are kept.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import logging
import os
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.resources import files as package_files
from pathlib import Path

from sbc_helpers.contract import CAMPAIGN_FILES, UNIT_FILES, Outcome, Record, replicate_path
from sbc_helpers.errors import CampaignLocked, ResumeRefused, one_line
from sbc_helpers.run import provenance, store
from sbc_helpers.run.execute import ReplicateTask, execute_replicate
from sbc_helpers.run.params import Campaign, Unit, dump
from sbc_helpers.run.seeds import replicate_seed

log = logging.getLogger("sbc")


def template_path(name: str = "sbc_replicate.ipynb") -> Path:
    """A template notebook shipped with the package (package data, so an installed wheel has it)."""
    return Path(str(package_files("sbc_helpers") / "templates" / name))


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


def campaign_dir(campaign: Campaign, output_dir: Path | str) -> Path:
    return Path(output_dir) / campaign.name


@contextmanager
def lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` for the run; refuse if another run holds it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CAMPAIGN_FILES["lock"]
    handle = open(path, "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise CampaignLocked(f"{folder} is in use by another 'sbc run' (lock file {path})") from None
    try:
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


SHIPPED = "sbc_files"  # folder, in a worker's scratch space, that shipped user files are written to


def _ship_file(path: Path, files: dict[str, bytes]) -> str:
    """Add the file at ``path`` to ``files``; return where it lands in the worker's scratch folder.

    The folder is named by the content's hash, so two files of the same name do not collide.
    """
    data = path.read_bytes()
    relative = f"{SHIPPED}/{hashlib.sha256(data).hexdigest()[:16]}/{path.name}"
    files[relative] = data
    return relative


def _ship(reference: str | None, base_dir: Path, files: dict[str, bytes]) -> str:
    """A ``file.py:function`` or ``file.pkl:name`` reference rewritten to the shipped copy of its
    file; others unchanged."""
    if not reference:
        return ""
    target, sep, func = reference.rpartition(":")
    if sep and target.endswith((".py", ".pkl")):
        path = Path(target) if Path(target).is_absolute() else Path(base_dir) / target
        return f"{_ship_file(path, files)}:{func}"
    return reference


def _design_parameter(design, base_dir: Path, files: dict[str, bytes]) -> dict:
    if isinstance(design, dict) and set(design) == {"file"}:
        design = design["file"]
    if isinstance(design, str):  # a CSV/Parquet file: its bytes travel with the task
        path = Path(design) if Path(design).is_absolute() else Path(base_dir) / design
        return {"file": _ship_file(path, files)}
    return {k: (_ship(v, base_dir, files) if k == "maker" else v) for k, v in design.items()}


def unit_parameters(campaign: Campaign, unit: Unit, cores: int, files: dict[str, bytes],
                    reference: Path | None = None) -> dict:
    """The replicate template's parameters for one (model, inference method) unit: exactly
    ``contract.UNIT_PARAMETERS``, in their order (the worker adds each replicate's own).

    User files the unit refers to are added to ``files`` (path in the worker's scratch folder ->
    content) and the parameters point at those copies, relative to the kernel's working folder;
    so is the ``reference`` posterior's file of a posterior-SBC unit.
    """
    inference = unit.inference.model_dump(exclude={"label"}, exclude_none=True)
    if inference.get("function"):
        inference["function"] = _ship(inference["function"], campaign.base_dir, files)
    chains = getattr(unit.inference, "chains", 1)
    return {
        "model": _ship(unit.spec.model, campaign.base_dir, files),
        "model_kwargs": dict(unit.spec.model_kwargs),
        "bambi": unit.spec.bambi.model_dump() if unit.spec.bambi else {},
        "design": _design_parameter(campaign.design_for(unit.spec), campaign.base_dir, files),
        "simulator": _ship(unit.spec.simulator, campaign.base_dir, files),
        "inference": inference,
        "cores": min(cores, chains),
        "rank_draws": campaign.rank_draws,
        "keep_draws": campaign.kept_draws,
        "quantities": list(unit.spec.quantities),
        "derived": campaign.derived_for(unit.spec),
        "log_likelihood": campaign.log_likelihood,
        "make_plots": campaign.make_plots,
        "thresholds": campaign.thresholds.model_dump(),
        "conditional_on": _conditioning_parameter(campaign, unit, files, reference),
    }


def _conditioning_parameter(campaign: Campaign, unit: Unit, files: dict[str, bytes], reference: Path | None) -> dict:
    spec = unit.spec
    if spec.conditional_on is None:
        return {}
    data = Path(spec.conditional_on)
    shipped = {"data": _ship_file(data if data.is_absolute() else campaign.base_dir / data, files)}
    if spec.new_design is not None:
        shipped["new_design"] = _design_parameter(spec.new_design, campaign.base_dir, files)
    if reference is not None:
        shipped["reference"] = _ship_file(reference, files)
    return shipped


NOT_REPLICATE = ("cores", "make_plots", "keep_draws")
"""Template parameters that change how a replicate runs or what it keeps, not its draws or ranks."""
RERANK = ("rank_draws", "quantities", "derived", "log_likelihood")
"""What ``sbc report --recompute`` may change: the ranking of the kept draws, not the fits."""


def identity(campaign: Campaign, unit: Unit) -> dict:
    """What a unit's replicates are made from: the seed and every template parameter that changes
    their draws (user files by their content's hash, in the shipped paths)."""
    parameters = unit_parameters(campaign, unit, 1, {})
    made_from = {k: v for k, v in parameters.items() if k not in NOT_REPLICATE}
    return json.loads(json.dumps({"seed": campaign.seed, **made_from}, default=str))


def _changes(before: dict, after: dict, path: str = "") -> list[str]:
    """What differs between two identities, named for the user ("model: dose.py changed")."""
    changes = []
    for key in sorted(set(before) | set(after)):
        a, b, name = before.get(key), after.get(key), f"{path}.{key}" if path else key
        if isinstance(a, dict) and isinstance(b, dict):
            changes += _changes(a, b, name)
        elif a != b:
            shipped = [v.split("/")[2].split(":")[0] for v in (a, b)
                       if isinstance(v, str) and v.startswith(SHIPPED + "/")]
            changes.append(f"{name}: {shipped[-1]} changed" if len(shipped) == 2 and len(set(shipped)) == 1
                           else f"{name}: {a!r} -> {b!r}")
    return changes


def claim_units(campaign: Campaign, folder: Path) -> None:
    """Refuse to resume a unit whose finished replicates were made from other settings; record each
    unit's identity. Workers, cluster, replicates and report settings may change, and a unit whose
    replicates all failed may be fixed (they all run again)."""
    identities = {unit.name: identity(campaign, unit) for unit in campaign.units()}
    for name, made_from in identities.items():
        before = store.read_identity(store.unit_dir(folder, name))
        if before is not None and before != made_from and store.has_finished(store.unit_dir(folder, name)):
            changes = _changes(before, made_from)
            raise ResumeRefused(f"{name}: {folder} holds replicates made from other settings "
                                f"({'; '.join(changes[:3])}{'; ...' if len(changes) > 3 else ''}): "
                                "resuming would mix them; use --restart to discard them, or another --output-dir")
    for name, made_from in identities.items():
        store.write_identity(store.unit_dir(folder, name), made_from)


def plan(campaign: Campaign, folder: Path, cores: int, skip_units: set[str] = frozenset(),
         references: dict[str, Path] | None = None) -> tuple[list[ReplicateTask], int]:
    """Tasks for every replicate not yet complete on disk (none for ``skip_units``), and how many
    were skipped; ``references``: the reference posterior's file of each posterior-SBC model."""
    template = template_path().read_text()
    tasks, skipped = [], 0
    for unit in campaign.units():
        if unit.name in skip_units:
            continue
        files: dict[str, bytes] = {}
        parameters = unit_parameters(campaign, unit, cores, files, (references or {}).get(unit.spec.name))
        for r in range(campaign.replicates):
            if store.state(store.unit_dir(folder, unit.name), r) == "complete":
                skipped += 1
                continue
            tasks.append(ReplicateTask(
                unit=unit.name, replicate=r, seed=replicate_seed(campaign.seed, unit.name, r),
                template=template, parameters=parameters, timeout=campaign.timeout,
                kernel_reuse=campaign.kernel_reuse, files=files,
            ))
    return tasks, skipped


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


def run(campaign: Campaign, output_dir: Path | str, workers: int | None = None, scheduler: str | None = None,
        progress: bool = True, descriptions: dict[str, str] | None = None, restart: bool = False) -> RunResult:
    """Run every missing replicate of ``campaign`` (checked by the preflight first); call it with
    the campaign's folder locked (``lock``). ``restart``: discard the folder's results first."""
    from sbc_helpers.run import posterior
    from sbc_helpers.run.clusters import dask_client
    from sbc_helpers.setup import configure

    configure()  # before the reference posterior's fit
    folder = campaign_dir(campaign, output_dir)
    workers = workers or os.cpu_count() or 1
    if restart:
        store.clear_campaign(folder)
    claim_units(campaign, folder)
    store.write_manifest(folder, dump(campaign), provenance.collect(campaign))
    for unit, text in (descriptions or {}).items():
        store.atomic_write(store.unit_dir(folder, unit) / UNIT_FILES["model"], text.encode())
    if store.clean_partial_writes(folder):
        log.info("%s: removed temporary files an interrupted run left", campaign.name)
    remote = scheduler or campaign.cluster.kind != "local"  # one single-threaded worker per core there
    cores = 1 if remote else max(1, (os.cpu_count() or 1) // workers)
    monitors = sequential_monitors(campaign, folder)
    decided = {unit: m.decision.line(campaign.replicates) for unit, m in monitors.items() if m.decision.reason}
    references = posterior.prepare(campaign, folder)
    tasks, skipped = plan(campaign, folder, cores, set(decided), references)
    result = RunResult(campaign_dir=folder, skipped=skipped, decided=decided)
    for unit, line in decided.items():
        log.info("%s: already %s", unit, line)
    log.info("%s: %d replicates to run, %d already done", campaign.name, len(tasks), skipped)
    if tasks:
        with dask_client(workers, scheduler, campaign.cluster) as client:
            _Run(client, tasks, campaign, folder, result, progress, monitors).go()
    return result


def sequential_monitors(campaign: Campaign, folder: Path) -> dict:
    """For a sequential campaign, each unit's monitor, fed the replicates already on disk."""
    if campaign.sequential is None:
        return {}
    from sbc_helpers.run.sequential import UnitMonitor

    monitors = {}
    for unit in campaign.units():
        gathered = store.gather(store.unit_dir(folder, unit.name), campaign.replicates)
        monitor = monitors[unit.name] = UnitMonitor(campaign)
        by_replicate = dict(tuple(gathered.ranks.groupby("replicate"))) if len(gathered.ranks) else {}
        for row in gathered.replicates.itertuples():
            if row.status in ("ok", "failed") and not monitor.decision.reason:
                monitor.add(int(row.replicate), by_replicate.get(row.replicate) if row.status == "ok" else None)
    return monitors


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


class _Run:
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
