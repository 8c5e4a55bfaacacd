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


def _absolute(reference: str | None, base_dir: Path) -> str:
    """Make a ``file.py:function`` reference absolute, so the kernel finds it from any folder."""
    if not reference:
        return ""
    target, sep, func = reference.rpartition(":")
    if sep and target.endswith(".py") and not Path(target).is_absolute():
        return f"{(base_dir / target).resolve()}:{func}"
    return reference


def _design_parameter(design, base_dir: Path) -> dict:
    if isinstance(design, str):
        path = Path(design)
        return {"file": str(path if path.is_absolute() else (base_dir / path).resolve())}
    return {k: (_absolute(v, base_dir) if k == "maker" else v) for k, v in design.items()}


def unit_parameters(campaign: Campaign, unit, cores: int) -> dict:
    """The replicate template's parameters for one (model, inference method) unit."""
    inference = unit.inference.model_dump(exclude={"label"}, exclude_none=True)
    if inference.get("function"):
        inference["function"] = _absolute(inference["function"], campaign.base_dir)
    return {
        "model": _absolute(unit.spec.model, campaign.base_dir),
        "model_kwargs": dict(unit.spec.model_kwargs),
        "design": _design_parameter(campaign.design_for(unit.spec), campaign.base_dir),
        "simulator": _absolute(unit.spec.simulator, campaign.base_dir),
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
        parameters = unit_parameters(campaign, unit, cores)
        for r in range(campaign.replicates):
            if store.is_complete(folder, unit.name, r):
                skipped += 1
                continue
            tasks.append(ReplicateTask(
                model_name=unit.name, replicate=r, seed=replicate_seed(campaign.seed, unit.name, r),
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
        for unit in campaign.units():
            store.gather(folder, unit.name)
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
    """One (model, design, inference) per campaign unit, for the compile-cache warm-up."""
    seen = {}
    for t in tasks:
        seen.setdefault(t.model_name, {k: t.parameters[k] for k in ("model", "model_kwargs", "design", "inference")})
    return list(seen.values())


def _key(task: ReplicateTask, attempt: int) -> str:
    return f"replicate-{task.model_name}-{task.replicate}-{attempt}"
