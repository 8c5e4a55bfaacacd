"""Warm-up: compile each campaign model once on every worker before any replicate runs.

PyTensor's first (cold) compile of a model and later loads from its compile cache can give
bitwise-different floating point, which HMC amplifies into different draws. Replicate kernels always
load from a warm cache once this has run, so a replicate gives the same ranks on any worker, in any
order, fresh or resumed. It also saves each kernel the compile time.

The plugin carries the campaign's user files (as the replicate tasks do), so it works on workers
that share no filesystem with the client, e.g. a cluster reached with ``sbc run --scheduler``.
"""

import hashlib
import json
import logging
import shutil
import tempfile
from pathlib import Path

from distributed.diagnostics.plugin import WorkerPlugin

log = logging.getLogger("sbc")


def warm_compile_cache(models: list[dict], base_dir: Path | str | None = None) -> None:
    """Build, simulate and briefly fit each model so its compiled functions land in the cache.

    ``models`` holds the replicate parameters (model, model_kwargs, design, inference) of each unit;
    relative file references in them are read from ``base_dir``.
    """
    from sbc_helpers.fit import fit
    from sbc_helpers.registry import make_design, resolve_model
    from sbc_helpers.simulate import simulate

    logging.getLogger("pymc").setLevel(logging.WARNING)  # no sampler banner per worker
    for spec in models:
        model = resolve_model(spec["model"], base_dir)(make_design(spec["design"], base_dir), **spec["model_kwargs"])
        simulation = simulate(model, seed=0)
        if spec["inference"]["method"] == "nuts":
            brief = {"draws": 5, "tune": 5, "chains": 1}
        else:  # variational and user methods: as few iterations and draws as they take
            brief = {"draws": 5, "iterations": 5}
        where = {"base_dir": base_dir} if spec["inference"].get("function") else {}
        fit(model, simulation.data, seed=0, cores=1, **{**spec["inference"], **brief, **where})


class WarmCompileCache(WorkerPlugin):
    """Runs ``warm_compile_cache`` on each worker when it joins the cluster."""

    name = "sbc-warm-compile-cache"

    def __init__(self, models: list[dict], files: dict[str, bytes] | None = None):
        self.models = models
        self.files = dict(files or {})  # relative path -> content, as in ReplicateTask.files
        # one name per set of models: campaigns sharing a cluster do not replace each other's warm-up
        digest = hashlib.sha256(json.dumps(models, sort_keys=True, default=str).encode())
        for name in sorted(self.files):
            digest.update(name.encode())
        self.name = f"{WarmCompileCache.name}-{digest.hexdigest()[:12]}"

    async def setup(self, worker) -> None:
        # in a thread: the worker's event loop keeps answering the scheduler (heartbeats) while a
        # big model compiles; the client submits no replicate before every worker has finished
        import asyncio

        await asyncio.to_thread(self._warm_up)

    def _warm_up(self) -> None:
        from sbc_helpers.execute import write_files

        folder = Path(tempfile.mkdtemp(prefix="sbc-warmup-"))
        try:
            write_files(self.files, folder)
            warm_compile_cache(self.models, folder)
        except Exception as err:  # a model that fails here fails in its replicates, where it is recorded
            log.warning("compile-cache warm-up failed: %s: %s", type(err).__name__, err)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
