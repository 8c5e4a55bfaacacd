"""Mean-field and full-rank ADVI (``pm.fit``), the compiled step and sampling functions reused for
every replicate's data (``compiled.cache``)."""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pymc as pm
import xarray as xr
from pytensor.compile.sharedvalue import SharedVariable

from sbc_helpers.compiled.cache import CACHE, graph_key, is_rng, load_data
from sbc_helpers.compiled.shared import shared_condition


@dataclass
class _Variational:
    inference: object  # pm.ADVI or pm.FullRankADVI on the first replicate's conditioned model
    step: object  # its compiled optimisation step
    rngs: list  # the step's random generators, in the order ``pm.compile`` seeds them
    initial: list  # (shared variable, value before the first step): parameters, optimiser state
    initial_point: Callable  # seed -> the model's initial point, as the approximation's start


def fit_variational(model: pm.Model, data: dict[str, np.ndarray], *, kind: str, seed: int, iterations: int,
                    draws: int) -> xr.DataTree:
    """``pm.fit(n=iterations, method=kind, random_seed=seed)`` then ``approx.sample(draws, random_seed=seed)``
    on ``model`` given ``data``, reusing the compiled step and sampling functions across data sets.

    Compiling the step is most of an ADVI fit.
    Before each fit the reused objects are put back where a new ``pm.fit`` starts: the optimiser's
    state and the variational parameters at their initial values, the mean at the model's initial
    point, the random generators seeded as ``pm.fit`` seeds them (the same draws, tested)."""
    from pymc.blocking import DictToArrayBijection
    from pymc.initial_point import make_initial_point_fn
    from pymc.pytensorf import compile, reseed_rngs

    conditioned, shared = shared_condition(model, data)
    outputs = [conditioned.logp(), *conditioned.unobserved_value_vars]
    key, inputs = graph_key(kind, conditioned, outputs, conditioned.value_vars, shared)

    def build():
        inference = {"advi": pm.ADVI, "fullrank_advi": pm.FullRankADVI}[kind](model=conditioned, random_seed=seed)
        # ObjectiveFunction.step_function(score=True) with its defaults, keeping the generators in the
        # order pm.compile seeds them
        updates = inference.objective.updates()
        step, rng_updates = compile([], updates.loss, updates=updates, random_seed=False, return_updates=True)
        initial = [(v, v.get_value(borrow=False)) for v in updates if isinstance(v, SharedVariable) and not is_rng(v)]
        initial_point = make_initial_point_fn(model=conditioned, jitter_rvs={}, return_transformed=True)
        return _Variational(inference, step, list(rng_updates), initial, initial_point)

    cached, compiled_inputs = CACHE.get(key, outputs, inputs, build)
    load_data(compiled_inputs, len(conditioned.value_vars), shared)
    inference = cached.inference
    for variable, value in cached.initial:
        variable.set_value(value.copy(), borrow=True)
    # what pm.fit(random_seed=seed) does next (Group._prepare_start, then step_function): the group's
    # generator seeds the initial point, which becomes the mean, then the step's generators
    group = inference.approx.groups[0]
    group.rng = np.random.RandomState(seed)
    point = cached.initial_point(group.rng.randint(2**30, dtype=np.int64))
    names = {group.model.rvs_to_values[v].name for v in group.group}
    mu = group.params_dict["mu"]
    mu.set_value(np.asarray(DictToArrayBijection.map({k: v for k, v in point.items() if k in names}).data,
                            dtype=mu.dtype))
    reseed_rngs(cached.rngs, group.rng.randint(2**30, dtype=np.int64))
    inference.hist = np.asarray(())
    inference.objective.step_function = lambda **kwargs: cached.step  # fit() asks for its step: ours
    try:
        approx = inference.fit(iterations, progressbar=False)
    finally:
        del inference.objective.step_function
    return approx.sample(draws, random_seed=seed)
