"""Runner: fan a campaign's missing replicates out on Dask, save each one as it arrives.

The embedded default is a ``LocalCluster`` with one single-threaded worker process per core;
``scheduler`` sends the same work to an existing Dask cluster instead. Only this process writes
under the output folder, so workers need no shared filesystem.
"""

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sbc_helpers import store
from sbc_helpers.execute import ReplicateTask, execute_replicate
from sbc_helpers.params import Campaign, ParamsError
from sbc_helpers.seeds import replicate_seed
from sbc_helpers.warmup import WarmCompileCache

log = logging.getLogger("sbc")
TEMPLATE = Path(__file__).resolve().parent.parent / "templates" / "sbc_replicate.ipynb"


class CampaignLocked(RuntimeError):
    """Another ``sbc run`` is writing to the same output folder."""


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
    from sbc_helpers.registry import make_design, resolve_model

    for i, spec in enumerate(campaign.models):
        where = f"models.{i} ({spec.name})"
        try:
            design = make_design(campaign.design_for(spec), campaign.base_dir)
        except Exception as err:
            raise ParamsError(f"{where}.design: {err}") from None
        try:
            built = resolve_model(spec.model, campaign.base_dir)(design)
        except Exception as err:
            raise ParamsError(f"{where}.model: {spec.model!r} failed to build: {type(err).__name__}: {err}") from None
        if not hasattr(built, "observed_RVs"):
            raise ParamsError(f"{where}.model: {spec.model!r} returned {type(built).__name__}, not a pm.Model")
        if not built.observed_RVs:
            raise ParamsError(f"{where}.model: {spec.model!r} has no observed variable to simulate")
        missing = [q for q in spec.quantities if q not in built.named_vars]
        if missing:
            raise ParamsError(f"{where}.quantities: not variables of the model: {', '.join(missing)}")


def _model_reference(spec_model: str, base_dir: Path) -> str:
    """Make a ``file.py:function`` reference absolute, so the kernel finds it from any folder."""
    target, sep, func = spec_model.rpartition(":")
    if sep and target.endswith(".py") and not Path(target).is_absolute():
        return f"{(base_dir / target).resolve()}:{func}"
    return spec_model


def _design_reference(design, base_dir: Path):
    if isinstance(design, str) and not Path(design).is_absolute():
        return str((base_dir / design).resolve())
    return design


def plan(campaign: Campaign, folder: Path, cores: int) -> tuple[list[ReplicateTask], int]:
    """Tasks for every replicate not yet complete on disk, and how many were skipped."""
    template = TEMPLATE.read_text()
    tasks, skipped = [], 0
    for spec in campaign.models:
        inference = campaign.inference_for(spec)
        parameters = {
            "model": _model_reference(spec.model, campaign.base_dir),
            "design": _design_reference(campaign.design_for(spec), campaign.base_dir),
            **inference.model_dump(),
            "cores": min(cores, inference.chains),
            "rank_draws": campaign.rank_draws,
            "quantities": list(spec.quantities),
            "make_plots": campaign.make_plots,
        }
        for r in range(campaign.replicates):
            if store.is_complete(folder, spec.name, r):
                skipped += 1
                continue
            tasks.append(ReplicateTask(
                model_name=spec.name, replicate=r, seed=replicate_seed(campaign.seed, spec.name, r),
                template=template, parameters=parameters, timeout=campaign.timeout,
                kernel_reuse=campaign.kernel_reuse,
            ))
    return tasks, skipped


@contextmanager
def dask_client(workers: int | None, scheduler: str | None):
    """A client on an existing scheduler, or on a local cluster of single-threaded processes."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler, timeout="30s") as client:
            yield client
        return
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster:
        with Client(cluster) as client:
            yield client


def _failure(task: ReplicateTask, err: BaseException) -> dict:
    """A record for a replicate whose worker never returned (lost worker, cancelled)."""
    message = (str(err).strip().splitlines() or [type(err).__name__])[0][:500]
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
        cores = 1 if scheduler else max(1, (os.cpu_count() or 1) // workers)
        tasks, skipped = plan(campaign, folder, cores)
        result = RunResult(campaign_dir=folder, skipped=skipped)
        log.info("%s: %d replicates to run, %d already done", campaign.name, len(tasks), skipped)
        if tasks:
            with dask_client(workers, scheduler) as client:
                client.register_plugin(WarmCompileCache(_distinct_models(tasks)))
                _run_tasks(client, tasks, campaign, folder, result, progress, as_completed, tqdm)
        for spec in campaign.models:
            store.gather(folder, spec.name)
    return result


def _run_tasks(client, tasks, campaign, folder, result, progress, as_completed, tqdm) -> None:
    attempts = {(t.model_name, t.replicate): 1 for t in tasks}
    futures = {client.submit(execute_replicate, t, pure=False, key=_key(t, 1)): t for t in tasks}
    bar = tqdm(total=len(tasks), desc=campaign.name, unit="replicate", disable=not progress)
    queue = as_completed(futures)
    try:
        for future in queue:
            task = futures.pop(future)
            try:
                outcome = future.result()
            except Exception as err:  # the worker died or was lost: no notebook came back
                outcome = _failure(task, err)
            tries = attempts[(task.model_name, task.replicate)]
            outcome["record"]["attempts"] = tries
            store.save_replicate(folder, task.model_name, outcome)
            failed = outcome["record"]["status"] != "ok"
            if failed and tries <= campaign.retries:
                attempts[(task.model_name, task.replicate)] = tries + 1
                retry = client.submit(execute_replicate, task, pure=False, key=_key(task, tries + 1))
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
            bar.set_postfix(failed=len(result.failed))
    except KeyboardInterrupt:
        for future in futures:
            future.cancel()
        raise
    finally:
        bar.close()


def _distinct_models(tasks: list[ReplicateTask]) -> list[dict]:
    """One (model, design, sampler) per campaign model, for the compile-cache warm-up."""
    seen = {}
    for t in tasks:
        seen.setdefault(t.model_name, {k: t.parameters[k] for k in ("model", "design", "sampler")})
    return list(seen.values())


def _key(task: ReplicateTask, attempt: int) -> str:
    return f"replicate-{task.model_name}-{task.replicate}-{attempt}"
