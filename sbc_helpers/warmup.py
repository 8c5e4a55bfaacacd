"""Warm-up: compile each campaign model once on every worker before any replicate runs.

PyTensor's first (cold) compile of a model and later loads from its compile cache can give
bitwise-different floating point, which HMC amplifies into different draws. Replicate kernels always
load from a warm cache once this has run, so a replicate gives the same ranks on any worker, in any
order, fresh or resumed. It also saves each kernel the compile time.
"""

import logging

from distributed.diagnostics.plugin import WorkerPlugin

log = logging.getLogger("sbc")


def warm_compile_cache(models: list[dict]) -> None:
    """Build, simulate and briefly fit each model so its compiled functions land in the cache.

    ``models`` holds the replicate parameters (model, model_kwargs, design, inference) of each unit.
    """
    from sbc_helpers.fit import fit
    from sbc_helpers.registry import make_design, resolve_model
    from sbc_helpers.simulate import simulate

    logging.getLogger("pymc").setLevel(logging.WARNING)  # no sampler banner per worker
    for spec in models:
        model = resolve_model(spec["model"])(make_design(spec["design"]), **spec["model_kwargs"])
        simulation = simulate(model, seed=0)
        if spec["inference"]["method"] == "nuts":
            brief = {"draws": 5, "tune": 5, "chains": 1}
        else:  # variational and user methods: as few iterations and draws as they take
            brief = {"draws": 5, "iterations": 5}
        fit(model, simulation.data, seed=0, cores=1, **{**spec["inference"], **brief})


class WarmCompileCache(WorkerPlugin):
    """Runs ``warm_compile_cache`` on each worker when it joins the cluster."""

    name = "sbc-warm-compile-cache"

    def __init__(self, models: list[dict]):
        self.models = models

    def setup(self, worker) -> None:
        try:
            warm_compile_cache(self.models)
        except Exception as err:  # a model that fails here fails in its replicates, where it is recorded
            log.warning("compile-cache warm-up failed: %s: %s", type(err).__name__, err)
