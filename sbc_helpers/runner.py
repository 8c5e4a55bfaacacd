"""Runner: fan a campaign's missing replicates out on Dask, save each one as it arrives.

The embedded default is a ``LocalCluster`` with one single-threaded worker process per core;
``scheduler`` sends the same work to an existing Dask cluster instead. Only this process writes
under the output folder, and user files (``file.py:function`` references, CSV/Parquet designs) travel
with each task, so workers need no shared filesystem.

A replicate that fails (an exception in a cell, a dead kernel, a timeout, a kernel that does not
start, a lost worker) is recorded and submitted again, up to ``retries`` more times; the rest of the
campaign goes on. Each retry runs on a new kernel: a worker discards its kernel after any failure.
"""

import asyncio
import fcntl
import hashlib
import logging
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from distributed.diagnostics.plugin import WorkerPlugin

from sbc_helpers import store
from sbc_helpers.execute import ReplicateTask, execute_replicate
from sbc_helpers.params import Campaign, ParamsError
from sbc_helpers.seeds import replicate_seed

log = logging.getLogger("sbc")
TEMPLATE = Path(__file__).resolve().parent.parent / "templates" / "sbc_replicate.ipynb"


class CampaignLocked(RuntimeError):
    """Another ``sbc run`` is writing to the same output folder."""


class SchedulerUnavailable(RuntimeError):
    """``--scheduler`` names a Dask scheduler that cannot be reached."""


@dataclass
class RunResult:
    """Counts of one run: replicates run now, skipped as already done, failed after retries."""

    campaign_dir: Path
    ran: int = 0
    skipped: int = 0
    failed: list[tuple[str, int]] = field(default_factory=list)
    recovered: int = 0


def campaign_dir(campaign: Campaign, output_dir: Path | str) -> Path:
    return Path(output_dir) / campaign.name


@contextmanager
def lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` for the run; refuse if another run holds it."""
    folder.mkdir(parents=True, exist_ok=True)
    handle = open(folder / ".lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise CampaignLocked(f"{folder} is in use by another 'sbc run' (lock file {folder / '.lock'})") from None
    try:
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def preflight(campaign: Campaign) -> None:
    """Build every model on its design once, so a bad reference fails before any replicate runs."""
    from sbc_helpers.registry import load_function, make_design, resolve_model

    for i, spec in enumerate(campaign.models):
        where = f"models.{i} ({spec.name})"
        try:
            design = make_design(campaign.design_for(spec), campaign.base_dir)
        except Exception as err:
            raise ParamsError(f"{where}.design: {err}") from None
        try:
            builder = resolve_model(spec.model, campaign.base_dir)
        except Exception as err:
            raise ParamsError(f"{where}.model: {err}") from None
        try:
            built = builder(design, **spec.model_kwargs)
        except Exception as err:
            raise ParamsError(f"{where}.model: {spec.model!r} failed to build on its design: "
                              f"{type(err).__name__}: {err}") from None
        if not hasattr(built, "observed_RVs"):
            raise ParamsError(f"{where}.model: {spec.model!r} returned {type(built).__name__}, not a pm.Model")
        if not built.observed_RVs:
            raise ParamsError(f"{where}.model: {spec.model!r} has no observed variable to simulate")
        missing = [q for q in spec.quantities if q not in built.named_vars]
        if missing:
            raise ParamsError(f"{where}.quantities: not variables of the model: {', '.join(missing)}")
        references = [("simulator", spec.simulator)] + [
            ("inference.function", u.inference.function) for u in campaign.units() if u.spec is spec
        ]
        for key, reference in references:
            if reference:
                try:
                    load_function(reference, campaign.base_dir)
                except Exception as err:
                    raise ParamsError(f"{where}.{key}: {err}") from None


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
    """A ``file.py:function`` reference rewritten to the shipped copy of its file; others unchanged.

    Library names and ``module:function`` references are imported on the worker as they are.
    """
    if not reference:
        return ""
    target, sep, func = reference.rpartition(":")
    if sep and target.endswith(".py"):
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


def unit_parameters(campaign: Campaign, unit, cores: int, files: dict[str, bytes]) -> dict:
    """The replicate template's parameters for one (model, inference method) unit.

    User files the unit refers to are added to ``files`` (path in the worker's scratch folder ->
    content) and the parameters point at those copies, relative to the kernel's working folder.
    """
    inference = unit.inference.model_dump(exclude={"label"}, exclude_none=True)
    if inference.get("function"):
        inference["function"] = _ship(inference["function"], campaign.base_dir, files)
    return {
        "model": _ship(unit.spec.model, campaign.base_dir, files),
        "model_kwargs": dict(unit.spec.model_kwargs),
        "design": _design_parameter(campaign.design_for(unit.spec), campaign.base_dir, files),
        "simulator": _ship(unit.spec.simulator, campaign.base_dir, files),
        "inference": inference,
        "cores": min(cores, unit.inference.chains),
        "rank_draws": campaign.rank_draws,
        "keep_draws": campaign.kept_draws,
        "quantities": list(unit.spec.quantities),
        "derived": campaign.derived_for(unit.spec),
        "log_likelihood": campaign.log_likelihood,
        "make_plots": campaign.make_plots,
    }


def plan(campaign: Campaign, folder: Path, cores: int) -> tuple[list[ReplicateTask], int]:
    """Tasks for every replicate not yet complete on disk, and how many were skipped."""
    template = TEMPLATE.read_text()
    tasks, skipped = [], 0
    for unit in campaign.units():
        files: dict[str, bytes] = {}
        parameters = unit_parameters(campaign, unit, cores, files)
        for r in range(campaign.replicates):
            if store.is_complete(folder, unit.name, r):
                skipped += 1
                continue
            tasks.append(ReplicateTask(
                model_name=unit.name, replicate=r, seed=replicate_seed(campaign.seed, unit.name, r),
                template=template, parameters=parameters, timeout=campaign.timeout,
                kernel_reuse=campaign.kernel_reuse, files=files,
            ))
    return tasks, skipped


@contextmanager
def dask_client(workers: int | None, scheduler: str | None):
    """A client on an existing scheduler, or on a local cluster of single-threaded processes."""
    import dask
    from dask.distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="30s")
        except (OSError, TimeoutError, ValueError) as err:
            raise SchedulerUnavailable(f"cannot reach the Dask scheduler at {scheduler}: {err}") from None
        with client:
            workers = len(client.scheduler_info().get("workers", {}))
            log.info("scheduler %s: %d workers%s", scheduler, workers, "" if workers else "; waiting for some to join")
            yield client
        return
    # worker-saturation 1.0: the scheduler hands each single-threaded worker one replicate at a time
    # and queues the rest itself, so a worker that dies takes down only the replicate it was running
    # (Dask charges a lost worker to every task assigned to it). No dashboard; the scheduler's HTTP
    # endpoints on any free port (not 8787, which may be taken). The workers' statistical profiler
    # is off: it samples every thread every 10 ms, which cost a quarter of a worker's CPU in a
    # campaign (measured), and a worker's only thread here waits on its kernel.
    with dask.config.set({"distributed.scheduler.worker-saturation": 1.0,
                          "distributed.worker.profile.enabled": False}):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None, scheduler_kwargs={"dashboard_address": ":0"},
                               silence_logs=logging.ERROR)
    with cluster:
        with Client(cluster) as client:
            client.register_plugin(IgnoreInterrupt())
            yield client


class IgnoreInterrupt(WorkerPlugin):
    """Local workers leave Ctrl-C to the client, which stops them in order.

    A terminal sends SIGINT to the whole process group; workers that took it too would die mid-task
    with tracebacks, before the client could cancel their work and close the cluster. Workers of a
    cluster given with ``--scheduler`` are not touched.
    """

    name = "sbc-ignore-interrupt"

    def setup(self, worker) -> None:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)


def _failure(task: ReplicateTask, err: BaseException) -> dict:
    """A record for a replicate whose worker never returned (lost worker, cancelled)."""
    message = (str(err).strip().splitlines() or [type(err).__name__])[0][:500]
    if type(err).__name__ == "KilledWorker":
        message = f"the worker running it died (lost worker): {message}"
    record = {"replicate": task.replicate, "seed": task.seed, "status": "failed",
              "error": type(err).__name__, "message": message}
    return {"record": record, "notebook": None}


def run(
    campaign: Campaign,
    output_dir: Path | str,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
) -> RunResult:
    """Run every missing replicate of ``campaign``, then gather the per-model tables."""
    from dask.distributed import as_completed
    from tqdm.auto import tqdm

    folder = campaign_dir(campaign, output_dir)
    workers = workers or os.cpu_count() or 1
    with lock(folder):
        store.write_manifest(folder, campaign.model_dump(mode="json"))
        if store.clean_partial_writes(folder):
            log.info("%s: removed temporary files an interrupted run left", campaign.name)
        cores = 1 if scheduler else max(1, (os.cpu_count() or 1) // workers)
        tasks, skipped = plan(campaign, folder, cores)
        result = RunResult(campaign_dir=folder, skipped=skipped)
        log.info("%s: %d replicates to run, %d already done", campaign.name, len(tasks), skipped)
        if tasks:
            with dask_client(workers, scheduler) as client:
                _run_tasks(client, tasks, campaign, folder, result, progress, as_completed, tqdm)
        for unit in campaign.units():
            store.gather(folder, unit.name)
    return result


def _run_tasks(client, tasks, campaign, folder, result, progress, as_completed, tqdm) -> None:
    run_id = uuid.uuid4().hex[:8]  # keys unique to this run: a shared cluster never hands back another's result
    attempts = {(t.model_name, t.replicate): 1 for t in tasks}
    errors: dict[tuple[str, int], list[str]] = {}
    futures = {client.submit(execute_replicate, t, pure=False, key=_key(campaign, t, 1, run_id)): t for t in tasks}
    bar = tqdm(total=len(tasks), desc=campaign.name, unit="replicate", disable=not progress)
    queue = as_completed(futures)
    try:
        for future in queue:
            task = futures.pop(future)
            try:
                outcome = future.result()
            except (Exception, asyncio.CancelledError) as err:  # the worker died or was lost: no notebook came back
                outcome = _failure(task, err)
            finally:
                future.release()
            which = (task.model_name, task.replicate)
            tries = attempts[which]
            outcome["record"]["attempts"] = tries
            if errors.get(which):  # what the earlier attempts died of
                outcome["record"]["earlier_errors"] = "; ".join(errors[which])
            store.save_replicate(folder, task.model_name, outcome)
            failed = outcome["record"]["status"] != "ok"
            if failed and tries <= campaign.retries:
                errors.setdefault(which, []).append(outcome["record"]["error"])
                attempts[which] = tries + 1
                retry = client.submit(execute_replicate, task, pure=False, key=_key(campaign, task, tries + 1, run_id))
                futures[retry] = task
                queue.add(retry)
                log.warning("%s replicate %d failed (%s); retrying", task.model_name, task.replicate,
                            outcome["record"]["error"])
                continue
            bar.update(1)
            if failed:
                result.failed.append((task.model_name, task.replicate))
                log.error("%s replicate %d failed: %s: %s", task.model_name, task.replicate,
                          outcome["record"]["error"], outcome["record"]["message"])
            else:
                result.ran += 1
                result.recovered += tries > 1
                log.debug("%s replicate %d ok in %.1f s (attempt %d)", task.model_name, task.replicate,
                          outcome["record"].get("wall_seconds", float("nan")), tries)
            bar.set_postfix(failed=len(result.failed))
    except KeyboardInterrupt:
        for future in futures:
            future.cancel()
        raise
    finally:
        bar.close()


def _key(campaign: Campaign, task: ReplicateTask, attempt: int, run_id: str) -> str:
    """A key unique to this run; its prefix puts every replicate in one Dask task group
    ("sbc-replicate", cut at the run id), which is what the scheduler queues as root tasks."""
    return f"sbc-replicate-{run_id}-{campaign.name}-{task.model_name}-{task.replicate}-attempt{attempt}"
