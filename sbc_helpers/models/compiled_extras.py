"""pymc-extras' Pathfinder and Laplace approximation, their compiled functions reused for every
replicate's data.

``pmx.fit_pathfinder`` and ``pmx.fit_laplace`` compile on every call (the log-density and its
gradient, the initial point, the transform back to the constrained scale; Laplace also freezes the
data into constants). Here each is assembled from pymc-extras' own steps on the shared-data model:
the compiled pieces are cached per graph and settings (``compiled.FunctionCache``), and a new data
set only swaps the data. The steps and their seeds are pymc-extras': Pathfinder's paths run one
after another (``parallel=False``), then importance sampling; Laplace's optimiser starts at the
model's initial point and its covariance is the inverse of the Hessian at the mode.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor
import xarray as xr

from sbc_helpers.models.compiled import CACHE, _load_data, _match, constrained_draws, shared_condition


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


# --- Pathfinder -------------------------------------------------------------------------------------


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
    key, inputs = _match("pathfinder", conditioned, outputs, conditioned.value_vars, shared)
    key = (*key, ("settings", draws_per_path, num_elbo_draws, float(jitter), maxiter))

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
    _load_data(compiled_inputs, len(conditioned.value_vars), shared)
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


# --- Laplace ---------------------------------------------------------------------------------------


@dataclass
class _Laplace:
    loss: Callable  # negative log-density (no Jacobian) of the raveled parameters, with its gradient
    hessp: Callable | None  # Hessian-vector product, when the method uses it
    hessian_product: Callable  # () -> a Hessian-vector product, compiled when first needed (the
    # covariance of a method whose optimiser gives no inverse Hessian)
    start: np.ndarray  # the model's initial point, raveled (fit_laplace does not jitter it)
    sample: Callable  # (mean, covariance) -> draws of every free variable and Deterministic
    rngs: list  # the sampler's random generators
    names: list[str]
    use_hess: bool


def fit_laplace(model: pm.Model, data: dict[str, np.ndarray], *, seed: int, draws: int,
                optimize_method: str) -> xr.DataTree:
    """``pmx.fit_laplace(optimize_method, draws=draws, random_seed=seed)`` on ``model`` given
    ``data``, reusing the compiled loss, gradient and sampler across data sets."""
    from pymc.pytensorf import reseed_rngs

    conditioned, shared = shared_condition(model, data)
    outputs = [conditioned.logp(jacobian=False), *conditioned.unobserved_value_vars]
    key, inputs = _match("laplace", conditioned, outputs, conditioned.value_vars, shared)
    key = (*key, ("settings", draws, optimize_method))
    entry, compiled_inputs = CACHE.get(key, outputs, inputs,
                                       lambda: _build_laplace(conditioned, draws, optimize_method))
    _load_data(compiled_inputs, len(conditioned.value_vars), shared)
    mean, covariance, result = _laplace_moments(entry, optimize_method)
    reseed_rngs(entry.rngs, seed)
    posterior = {name: out[None] for name, out in zip(entry.names, entry.sample(mean, covariance), strict=True)}
    from arviz_base import from_dict
    from pymc.backends.arviz import coords_and_dims_for_inferencedata

    coords, dims = coords_and_dims_for_inferencedata(conditioned)
    idata = from_dict({"posterior": posterior}, coords=coords, dims=dims, sample_dims=["chain", "draw"])
    idata["fit"] = xr.DataTree(xr.Dataset({
        "mean_vector": ("rows", mean), "covariance_matrix": (("rows", "columns"), covariance)}))
    idata["sample_stats"] = xr.DataTree(xr.Dataset({
        "optimizer_success": ((), bool(result.success)), "optimizer_iterations": ((), int(result.nit))}))
    return idata


def _build_laplace(conditioned: pm.Model, draws: int, method: str) -> _Laplace:
    import pytensor.tensor as pt
    from pymc.blocking import DictToArrayBijection
    from pymc.initial_point import make_initial_point_fn
    from pymc.pytensorf import collect_default_updates, compile
    from pymc_extras.inference.laplace_approx.laplace import unpack_last_axis
    from pymc_extras.inference.laplace_approx.scipy_interface import (
        scipy_optimize_funcs_from_loss,
        set_optimizer_function_defaults,
    )
    from pytensor.graph import vectorize_graph

    values = conditioned.continuous_value_vars
    start_point = make_initial_point_fn(model=conditioned, jitter_rvs=set(), return_transformed=True)(None)
    start = DictToArrayBijection.map({v.name: start_point[v.name] for v in values})
    use_grad, use_hess, use_hessp = set_optimizer_function_defaults(method, None, None, None)
    loss = -conditioned.logp(jacobian=False)
    point = DictToArrayBijection.rmap(start)
    f_fused, f_hessp = scipy_optimize_funcs_from_loss(loss=loss, inputs=values, initial_point_dict=point,
                                                      use_grad=use_grad, use_hess=use_hess, use_hessp=use_hessp)

    @functools.cache
    def hessian_product():
        return f_hessp or scipy_optimize_funcs_from_loss(loss=loss, inputs=values, initial_point_dict=point,
                                                         use_grad=False, use_hess=False, use_hessp=True)[1]
    # pmx's draws_from_laplace_approx, compiled once: MvNormal draws unpacked into the value
    # variables, mapped to every free variable and Deterministic
    dtype = pytensor.config.floatX  # the raveled initial point is integer when every initial value is whole
    targets = [*conditioned.free_RVs, *conditioned.deterministics]
    mu = pt.vector("mu", dtype=dtype)
    cov = pt.matrix("cov", dtype=dtype)
    approximation = pm.MvNormal.dist(mu=mu, cov=cov, size=(draws,), method="svd")
    unpacked = unpack_last_axis(approximation, [start_point[v.name].shape for v in conditioned.value_vars])
    outs = vectorize_graph(conditioned.replace_rvs_by_values(targets),
                           replace=dict(zip(conditioned.value_vars, unpacked, strict=True)))
    sample = compile([mu, cov], outs, random_seed=False, trust_input=True)
    rngs = list(collect_default_updates(inputs=[mu, cov], outputs=outs))
    return _Laplace(loss=f_fused, hessp=f_hessp, hessian_product=hessian_product, start=start.data.astype(dtype), sample=sample,
                    rngs=rngs, names=[v.name for v in targets], use_hess=use_hess)


def _laplace_moments(entry: _Laplace, method: str):
    """The mode, as ``pmx.find_MAP`` finds it, and the inverse of the Hessian computed there.

    ``pmx.fit_laplace`` with BFGS or L-BFGS-B takes the optimiser's running estimate of the inverse
    Hessian instead, which is the identity when the optimiser stops after one step (a quadratic
    log-density often does): far too wide. The Hessian at the mode is the Laplace approximation's."""
    from better_optimize import minimize
    from pymc_extras.inference.laplace_approx.find_map import _compute_inverse_hessian

    dtype = pytensor.config.floatX
    result = minimize(f=entry.loss, x0=entry.start.copy(), args=(), hessp=entry.hessp, progressbar=False,
                      method=method)
    mode = np.asarray(result.x, dtype=dtype)
    covariance = _compute_inverse_hessian(optimizer_result=None, optimal_point=mode, f_fused=None,
                                          f_hessp=entry.hessian_product(), use_hess=False, method=method)
    return mode, np.asarray(covariance, dtype=dtype), result
