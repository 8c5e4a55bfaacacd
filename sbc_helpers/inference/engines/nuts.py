"""NUTS with nutpie and with PyMC's own sampler, the compiled model reused for every replicate's data
(``compiled.cache``)."""

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pymc as pm
import xarray as xr

from sbc_helpers.compiled import callbacks
from sbc_helpers.compiled.cache import CACHE, graph_key, load_data
from sbc_helpers.compiled.shared import shared_condition


def _data(shared: list) -> dict[str, np.ndarray]:
    return {s.name: s.get_value(borrow=True) for s in shared}


def sample_nutpie(model: pm.Model, data: dict[str, np.ndarray], *, seed: int, draws: int, tune: int, chains: int,
                  cores: int, target_accept: float, **nuts_kwargs) -> xr.DataTree:
    """NUTS with nutpie on ``model`` given ``data``, reusing the compiled model across data sets.

    Mirrors ``pm.sample(nuts_sampler="nutpie")`` (same seed per chain, same posterior layout)."""
    import nutpie
    from pymc.backends.arviz import patch_nutpie_idata
    from pymc.sampling.mcmc import _get_seeds_per_chain

    conditioned, shared = shared_condition(model, data)
    outputs = [conditioned.logp(), *conditioned.unobserved_value_vars]
    key, inputs = graph_key("nutpie", conditioned, outputs, conditioned.value_vars, shared)
    compiled, _ = CACHE.get(key, outputs, inputs, lambda: callbacks.compile_pymc_model(conditioned))
    compiled = compiled.with_data(**_data(shared))
    if "max_treedepth" in nuts_kwargs:
        nuts_kwargs["maxdepth"] = nuts_kwargs.pop("max_treedepth")
    start = time.time()
    idata = nutpie.sample(compiled, draws=draws, tune=max(tune, 1), chains=chains, cores=cores,
                          seed=int(_get_seeds_per_chain(seed, chains)[0]), target_accept=target_accept,
                          progress_bar=False, **nuts_kwargs)
    patch_nutpie_idata(idata, conditioned, sampling_time=time.time() - start)
    return idata


def jittered_initial_points(model: pm.Model, initial_point: Callable, logp: Callable, seeds, retries: int = 10) -> list:
    """One initial point per seed, as ``pm.sample`` jitters them (``_init_jitter``): ``initial_point``
    is the model's jittered initial point function (of a seed), ``logp`` a point's log-density; a
    point whose log-density is not finite is drawn again, up to ``retries`` times."""
    points = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        for attempt in range(retries + 1):
            point = initial_point(seed)
            if np.isfinite(logp(point)):
                break
            if attempt == retries:
                model.check_start_vals(point)
            seed = rng.integers(2**30, dtype=np.int64)
        points.append(point)
    return points


@dataclass
class _PymcNuts:
    logp_dlogp: object  # the model's ValueGradFunction, which NUTS steps on
    initial_point: Callable  # seed -> the model's jittered initial point (transformed)
    trace: object  # value variables -> every free variable and Deterministic, as NDArray traces record


def sample_pymc_nuts(model: pm.Model, data: dict[str, np.ndarray], *, seed: int, draws: int, tune: int, chains: int,
                     target_accept: float) -> xr.DataTree:
    """``pm.sample(nuts_sampler="pymc", cores=1, random_seed=seed)`` on ``model`` given ``data``, reusing
    its compiled functions (log-density and gradient, initial point, trace) across data sets.

    The steps are ``pm.sample``'s (seeds, jittered initial points, ``init_nuts``' adapting
    potential, a new NUTS step, chains one after another), so the draws are those of a new
    ``pm.sample`` on the same shared-data model (tested). A model with discrete free variables is
    ``pm.sample`` itself, compiled for each data set."""
    import pytensor as pt_
    from pymc.backends.ndarray import NDArray
    from pymc.blocking import DictToArrayBijection
    from pymc.initial_point import make_initial_point_fn
    from pymc.progress_bar import default_progress_theme
    from pymc.sampling.mcmc import _sample_many, _sample_return
    from pymc.step_methods.hmc import quadpotential
    from pymc.util import get_random_generator

    conditioned, shared = shared_condition(model, data)
    if conditioned.discrete_value_vars:
        # pm.sample's compound step (NUTS on the continuous variables, Metropolis-type on the discrete):
        # its steps compile their own functions, so nothing is reused across data sets
        return pm.sample(draws=draws, tune=tune, chains=chains, cores=1, random_seed=seed, model=conditioned,
                         target_accept=target_accept, progressbar=False, compute_convergence_checks=False)
    outputs = [conditioned.logp(), *conditioned.unobserved_value_vars]
    values = conditioned.value_vars
    key, inputs = graph_key("pymc", conditioned, outputs, values, shared)

    def build() -> _PymcNuts:
        initial_point = make_initial_point_fn(model=conditioned, jitter_rvs=set(conditioned.free_RVs),
                                              return_transformed=True)
        logp_dlogp = conditioned.logp_dlogp_function(ravel_inputs=True, initial_point=initial_point(0))
        logp_dlogp.trust_input = True
        trace = conditioned.compile_fn(
            outs=[pt_.Out(v, borrow=True) for v in conditioned.unobserved_value_vars],
            inputs=[pt_.In(v, borrow=True) for v in values], point_fn=False, on_unused_input="ignore",
            trust_input=True)
        return _PymcNuts(logp_dlogp, initial_point, trace)

    entry, compiled_inputs = CACHE.get(key, outputs, inputs, build)
    load_data(compiled_inputs, len(values), shared)
    rngs = get_random_generator(seed).spawn(chains)
    seeds = [rng.integers(2**30) for rng in rngs]
    points = jittered_initial_points(
        conditioned, entry.initial_point,
        lambda point: entry.logp_dlogp([DictToArrayBijection.map(point).data], extra_vars={})[0], seeds)
    mean = np.mean([DictToArrayBijection.map(point).data for point in points], axis=0)
    potential = quadpotential.QuadPotentialDiagAdapt(len(mean), mean, np.ones_like(mean), 10, rng=seeds[0])
    step = pm.NUTS(potential=potential, model=conditioned, rng=seeds[0], initial_point=points[0],
                   logp_dlogp_func=entry.logp_dlogp, target_accept=target_accept)
    names = {v.name for v in values}
    points = [{k: v for k, v in point.items() if k in names} for point in points]
    traces = []
    for chain in range(chains):
        trace = NDArray(model=conditioned, fn=entry.trace, test_point=points[0])
        trace.setup(draws + tune, chain, step.stats_dtypes)
        traces.append(trace)
    start = time.time()
    _sample_many(draws=draws + tune, chains=chains, traces=traces, start=points, rngs=rngs, step=step, tune=tune,
                 progressbar=False, progressbar_theme=default_progress_theme, model=conditioned, cores=1,
                 callback=None, discard_tuned_samples=True, var_names=None)
    return _sample_return(run=None, traces=traces, tune=tune, t_sampling=time.time() - start,
                          discard_tuned_samples=True, compute_convergence_checks=False, return_inferencedata=True,
                          keep_warning_stat=False, idata_kwargs={}, model=conditioned, quiet=True)

