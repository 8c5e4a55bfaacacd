"""pymc-extras' Laplace approximation, its compiled functions reused for every replicate's data.

``pmx.fit_laplace`` compiles on every call and freezes the data into constants. Here it is
assembled from pymc-extras' own steps on the shared-data model: the loss, its gradient and the
sampler are cached per graph and settings (``compiled.cache``), and a new data set only swaps the
data. The optimiser starts at the model's initial point and the covariance is the inverse of the
Hessian at the mode.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor
import xarray as xr

from sbc_helpers.compiled.cache import CACHE, graph_key, load_data
from sbc_helpers.compiled.shared import shared_condition


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
    key, inputs = graph_key("laplace", conditioned, outputs, conditioned.value_vars, shared,
                            settings=(draws, optimize_method))
    entry, compiled_inputs = CACHE.get(key, outputs, inputs,
                                       lambda: _build_laplace(conditioned, draws, optimize_method))
    load_data(compiled_inputs, len(conditioned.value_vars), shared)
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
