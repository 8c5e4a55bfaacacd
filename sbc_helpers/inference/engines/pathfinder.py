"""pymc-extras' Pathfinder, its compiled single-path function reused for every replicate's data.

``pmx.fit_pathfinder`` compiles on every call (the log-density and its gradient, the initial point,
the transform back to the constrained scale). Here it is assembled from pymc-extras' own steps on
the shared-data model: the compiled path is cached per graph and settings (``compiled.cache``), and
a new data set only swaps the data. The steps and their seeds are pymc-extras': the paths run one
after another (``parallel=False``), then importance sampling.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pymc as pm
import xarray as xr

from sbc_helpers.compiled.cache import CACHE, graph_key, load_data
from sbc_helpers.compiled.shared import shared_condition
from sbc_helpers.inference.engines.constrain import constrained_draws


def _unravel(flat: np.ndarray, point_map_info) -> dict[str, np.ndarray]:
    """Rows of raveled value variables (``DictToArrayBijection``'s layout) as arrays by name."""
    values, offset = {}, 0
    for name, shape, size, dtype in point_map_info:
        values[name] = flat[:, offset:offset + size].reshape(len(flat), *shape).astype(dtype)
        offset += size
    return values


def _posterior(conditioned: pm.Model, shared: list, values: dict[str, np.ndarray], chains: int = 1) -> xr.DataTree:
    from arviz_base import from_dict
    from pymc.backends.arviz import coords_and_dims_for_inferencedata

    draws = constrained_draws(conditioned, shared, values)
    posterior = {k: v.reshape(chains, len(v) // chains, *v.shape[1:]) for k, v in draws.items()}
    coords, dims = coords_and_dims_for_inferencedata(conditioned)
    return from_dict({"posterior": posterior}, coords=coords, dims=dims, sample_dims=["chain", "draw"])



@dataclass
class _Pathfinder:
    path: Callable  # pymc-extras' single path: (seed, progress callback) -> PathfinderResult
    config: object  # its PathfinderConfig, recorded in the result
    point_map_info: tuple  # the layout of a path's raveled draws


def fit_pathfinder(model: pm.Model, data: dict[str, np.ndarray], *, seed: int, draws: int, num_paths: int,
                   draws_per_path: int, num_elbo_draws: int, jitter: float, maxiter: int,
                   importance_sampling: str) -> xr.DataTree:
    """``pmx.fit_pathfinder(..., parallel=False, random_seed=seed)`` on ``model`` given ``data``,
    reusing the compiled single-path function across data sets."""
    from pymc.util import _get_seeds_per_chain
    from pymc_extras.inference.pathfinder.results import MultiPathfinderResult

    conditioned, shared = shared_condition(model, data)
    outputs = [conditioned.logp(), *conditioned.unobserved_value_vars]
    key, inputs = graph_key("pathfinder", conditioned, outputs, conditioned.value_vars, shared,
                            settings=(draws_per_path, num_elbo_draws, float(jitter), maxiter))

    def build() -> _Pathfinder:
        from pymc.blocking import DictToArrayBijection
        from pymc_extras.inference.pathfinder.lbfgs import LBFGSConfig
        from pymc_extras.inference.pathfinder.results import PathfinderConfig
        from pymc_extras.inference.pathfinder.single_path import make_single_pathfinder_fn

        start = DictToArrayBijection.map(conditioned.initial_point())
        lbfgs = LBFGSConfig(maxiter=maxiter).set_default_maxcor(start.data.shape[0])
        path = make_single_pathfinder_fn(conditioned, num_draws=draws_per_path, num_elbo_draws=num_elbo_draws,
                                         jitter=jitter, lbfgs_config=lbfgs)
        config = PathfinderConfig(num_draws=draws_per_path, maxcor=lbfgs.maxcor, maxiter=lbfgs.maxiter,
                                  ftol=lbfgs.ftol, gtol=lbfgs.gtol, maxls=lbfgs.maxls, num_elbo_draws=num_elbo_draws,
                                  jitter=jitter, epsilon=lbfgs.epsilon)
        return _Pathfinder(path=path, config=config, point_map_info=start.point_map_info)

    entry, compiled_inputs = CACHE.get(key, outputs, inputs, build)
    load_data(compiled_inputs, len(conditioned.value_vars), shared)
    *path_seeds, choice_seed = _get_seeds_per_chain(seed, num_paths + 1)
    result = (MultiPathfinderResult.from_path_results([entry.path(s, None) for s in path_seeds])
              .with_counts(num_paths=num_paths, num_draws=draws)
              .with_pathfinder_config(config=entry.config)
              .with_importance_sampling(num_draws=draws, method=importance_sampling, random_seed=choice_seed))
    if result.all_paths_failed:
        raise ValueError("all Pathfinder paths failed; consider a smaller jitter or reparameterizing the model")
    idata = _posterior(conditioned, shared, _unravel(np.asarray(result.samples), entry.point_map_info))
    stats = {"pareto_k": float(result.pareto_k) if result.pareto_k is not None else np.nan,
             "paths_succeeded": int(sum(n for status, n in (result.path_status or {}).items()
                                        if status.name in ("SUCCESS", "ELBO_ARGMAX_AT_ZERO")))}
    idata["sample_stats"] = xr.DataTree(xr.Dataset({k: ((), v) for k, v in stats.items()}))
    return idata
