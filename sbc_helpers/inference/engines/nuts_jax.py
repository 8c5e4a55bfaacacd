"""NUTS with numpyro or blackjax, compiled once per model and reused for every replicate's data.

``pm.sample(nuts_sampler="numpyro" | "blackjax")`` turns the model's shared variables, observed data
included, into constants of the JAX log-density, so each data set traces and compiles the sampler
anew (XLA compilation is most of a small model's fit). Here the observed data are explicit inputs of
the log-density: the model's graph is jaxified with its value variables *and* its data as
arguments, and one ``jax.jit``-ed function runs warm-up, sampling and the transform back to the
constrained scale for all chains, taking the data as an argument. It is cached per graph (see
``compiled.cache``) and per sampler settings; a new data set of the same shapes reuses it.

Initial points are PyMC's (the model's initial point jittered per chain, as ``pm.sample`` does), and
the chains run vectorized (``jax.vmap``) or one per device (``jax.pmap``, ``chain_method:
parallel``) whatever the cores a worker has, so a replicate's seed alone decides its draws.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pymc as pm
import xarray as xr

from sbc_helpers.compiled.cache import CACHE, graph_key
from sbc_helpers.compiled.shared import shared_condition
from sbc_helpers.inference.engines.nuts import jittered_initial_points

STATS = ("diverging", "energy", "tree_depth", "n_steps", "acceptance_rate", "lp", "step_size",
         "reached_max_treedepth")
MAX_TREE_DEPTH = 10  # numpyro's and blackjax's default


@dataclass
class _JaxNuts:
    run: Callable  # (keys, initial positions, data) -> (constrained draws, stats); jit-compiled
    logp: Callable  # (positions, data) -> log density, jit-compiled: checks the jittered initial points
    initial_point: Callable  # seed -> the model's initial point (transformed), jittered
    names: list[str]  # the constrained outputs of ``run``, in order
    traces: list  # one entry per trace of ``run``: a test counts compilations


def _jaxify(conditioned: pm.Model, shared: list) -> tuple[Callable, Callable, list[str]]:
    """The model's log-density and its constrained variables as JAX functions of (values, data)."""
    from pymc.sampling.jax import get_jaxified_graph
    from pymc.util import get_default_varnames
    from pytensor.graph.replace import clone_replace

    data = [s.type(name=s.name) for s in shared]
    outputs = list(get_default_varnames(conditioned.unobserved_value_vars, include_transformed=False))
    logp, *constrained = clone_replace([conditioned.logp(), *outputs], dict(zip(shared, data, strict=True)))
    values = conditioned.value_vars
    logp_fn = get_jaxified_graph(inputs=[*values, *data], outputs=[logp])
    constrain_fn = get_jaxified_graph(inputs=[*values, *data], outputs=constrained)
    return (lambda position, args: logp_fn(*position, *args)[0],
            lambda position, args: constrain_fn(*position, *args), [v.name for v in outputs])


def _numpyro_chain(logp: Callable, draws: int, tune: int, target_accept: float) -> Callable:
    """One numpyro NUTS chain: (key, initial position, data) -> (positions, stats)."""
    from jax import lax
    from numpyro.infer.hmc import hmc

    init_kernel, sample_kernel = hmc(potential_fn_gen=lambda *args: (lambda position: -logp(position, args)),
                                     algo="NUTS")

    def chain(key, position, data):
        state = init_kernel(position, num_warmup=tune, target_accept_prob=target_accept, trajectory_length=None,
                            max_tree_depth=MAX_TREE_DEPTH, model_args=data, rng_key=key)
        state, _ = lax.scan(lambda s, _: (sample_kernel(s, model_args=data), None), state, None, length=tune)

        def step(s, _):
            s = sample_kernel(s, model_args=data)
            depth = (lax.log(s.num_steps.astype(float)) / np.log(2)).astype(int) + 1
            return s, (s.z, {"diverging": s.diverging, "energy": s.energy, "tree_depth": depth,
                             "n_steps": s.num_steps, "acceptance_rate": s.accept_prob, "lp": -s.potential_energy,
                             "step_size": s.adapt_state.step_size,
                             "reached_max_treedepth": s.num_steps >= 2**MAX_TREE_DEPTH - 1})

        _, (positions, stats) = lax.scan(step, state, None, length=draws)
        return positions, stats

    return chain


def _blackjax_chain(logp: Callable, draws: int, tune: int, target_accept: float) -> Callable:
    """One blackjax NUTS chain after window adaptation, as ``pm.sample(nuts_sampler="blackjax")`` runs it."""
    import blackjax
    import jax
    from blackjax.adaptation.base import get_filter_adapt_info_fn

    def chain(key, position, data):
        def density(x):
            return logp(x, data)

        adapt = blackjax.window_adaptation(blackjax.nuts, density, target_acceptance_rate=target_accept,
                                           adaptation_info_fn=get_filter_adapt_info_fn())
        (state, parameters), _ = adapt.run(key, position, num_steps=tune)
        kernel = blackjax.nuts(density, **parameters).step

        def step(s, k):
            s, info = kernel(k, s)
            return s, (s.position, {"diverging": info.is_divergent, "energy": info.energy,
                                    "tree_depth": info.num_trajectory_expansions,
                                    "n_steps": info.num_integration_steps, "acceptance_rate": info.acceptance_rate,
                                    "lp": s.logdensity, "step_size": parameters["step_size"],
                                    "reached_max_treedepth": info.num_trajectory_expansions >= MAX_TREE_DEPTH})

        _, (positions, stats) = jax.lax.scan(step, state, jax.random.split(key, draws))
        return positions, stats

    return chain


def _build(conditioned: pm.Model, shared: list, sampler: str, draws: int, tune: int, target_accept: float,
           chain_method: str) -> _JaxNuts:
    import jax
    from pymc.initial_point import make_initial_point_fn

    logp, constrain, names = _jaxify(conditioned, shared)
    chain = {"numpyro": _numpyro_chain, "blackjax": _blackjax_chain}[sampler](logp, draws, tune, target_accept)
    traces: list = []

    def run(keys, positions, data):
        traces.append(1)
        if chain_method == "parallel":
            samples, stats = jax.pmap(chain, in_axes=(0, 0, None))(keys, positions, data)
        else:
            samples, stats = jax.vmap(chain, in_axes=(0, 0, None))(keys, positions, data)
        constrained = jax.vmap(jax.vmap(constrain, in_axes=(0, None)), in_axes=(0, None))(samples, data)
        return constrained, stats

    initial_point = make_initial_point_fn(model=conditioned, jitter_rvs=set(conditioned.free_RVs),
                                          return_transformed=True)
    return _JaxNuts(run=jax.jit(run), logp=jax.jit(logp), initial_point=initial_point, names=names, traces=traces)


def _initial_positions(entry: _JaxNuts, conditioned: pm.Model, seed: int, chains: int, data: tuple) -> list[np.ndarray]:
    """PyMC's jittered initial point per chain, stacked per value variable."""
    from pymc.sampling.mcmc import _get_seeds_per_chain

    names = [v.name for v in conditioned.value_vars]
    points = jittered_initial_points(conditioned, entry.initial_point,
                                     lambda point: float(entry.logp([point[n] for n in names], data)),
                                     _get_seeds_per_chain(seed, chains))
    return [np.stack([point[n] for point in points]) for n in names]


def sample_jax_nuts(model: pm.Model, data: dict[str, np.ndarray], *, sampler: str, seed: int, draws: int, tune: int,
                    chains: int, target_accept: float, chain_method: str = "parallel") -> xr.DataTree:
    """NUTS with ``sampler`` ("numpyro" or "blackjax") on ``model`` given ``data``, the compiled
    sampler reused across data sets of the same shapes."""
    import pymc.sampling.jax  # noqa: F401  (first: it gives JAX a CPU device per chain for pmap)
    import jax
    from arviz_base import from_dict
    from pymc.backends.arviz import coords_and_dims_for_inferencedata
    from pymc.sampling.mcmc import _get_seeds_per_chain

    conditioned, shared = shared_condition(model, data)
    outputs = [conditioned.logp(), *conditioned.unobserved_value_vars]
    key, inputs = graph_key(sampler, conditioned, outputs, conditioned.value_vars, shared,
                            settings=(draws, tune, chains, float(target_accept), chain_method))
    if chain_method == "parallel" and jax.local_device_count() < chains:
        raise ValueError(f"chain_method 'parallel' runs each of the {chains} chains on its own JAX device and there "
                         f"are {jax.local_device_count()}; set chain_method: vectorized")
    entry, _ = CACHE.get(key, outputs, inputs,
                         lambda: _build(conditioned, shared, sampler, draws, tune, target_accept, chain_method))
    arrays = tuple(jax.numpy.asarray(s.get_value(borrow=True)) for s in shared)
    (seed,) = _get_seeds_per_chain(seed, 1)
    positions = _initial_positions(entry, conditioned, seed, chains, arrays)
    keys = jax.random.split(jax.random.PRNGKey(seed), chains)
    start = time.perf_counter()
    constrained, stats = entry.run(keys, positions, arrays)
    posterior = {name: np.asarray(values) for name, values in zip(entry.names, constrained, strict=True)}
    stats = {name: np.asarray(values) for name, values in stats.items()}
    coords, dims = coords_and_dims_for_inferencedata(conditioned)
    idata = from_dict({"posterior": posterior, "sample_stats": stats}, coords=coords, dims=dims,
                      sample_dims=["chain", "draw"])
    idata["posterior"].attrs.update({"sampling_time": time.perf_counter() - start, "tuning_steps": tune,
                                     "inference_library": sampler})
    return idata
