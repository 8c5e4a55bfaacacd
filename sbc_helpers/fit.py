"""Fit: condition a model on simulated data and approximate its posterior with the method under test.

Methods: ``nuts`` (PyMC's samplers: nutpie, pymc, numpyro, blackjax), ``advi`` and
``fullrank_advi`` (``pm.fit``), ``pathfinder`` (pymc-extras, where installed), ``exact`` (a
conjugate posterior function: independent, exact draws) and ``custom`` (any function of the
conditioned model). Every method returns a DataTree with a ``posterior`` group.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pymc as pm
import xarray as xr

from sbc_helpers.simulate import as_dataset

SAMPLERS = ("nutpie", "pymc", "numpyro", "blackjax")


@dataclass
class Fit:
    """A posterior approximation and what it cost."""

    idata: xr.DataTree
    seconds: float


def condition(model: pm.Model, data: dict[str, np.ndarray]) -> pm.Model:
    """A copy of ``model`` with its observed variables set to ``data``."""
    return pm.observe(model, data)


def _nuts(model, *, seed, cores=1, sampler="nutpie", draws=1000, tune=1000, chains=2, target_accept=0.8, **_):
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    return pm.sample(
        draws=draws, tune=tune, chains=chains, cores=cores, target_accept=target_accept,
        nuts_sampler=sampler, random_seed=seed, progressbar=False, compute_convergence_checks=False, quiet=True,
        model=model,
    )


def _variational(kind: str) -> Callable:
    def run(model, *, seed, draws=1000, iterations=20000, **_):
        approx = pm.fit(n=iterations, method=kind, model=model, random_seed=seed, progressbar=False)
        return approx.sample(draws, random_seed=seed)

    run.__name__ = f"_{kind.replace('-', '_')}"
    return run


def _pathfinder(model, *, seed, draws=1000, **_):
    try:
        import pymc_extras as pmx
    except ImportError as err:
        raise RuntimeError("method 'pathfinder' needs pymc-extras: pip install pymc-extras") from err
    return pmx.fit(method="pathfinder", model=model, num_draws=draws, random_seed=seed, progressbar=False)


def posterior_from_draws(model: pm.Model, draws: dict[str, np.ndarray]) -> xr.DataTree:
    """Wrap ``{name: array(n_draws, *shape)}`` as a one-chain posterior with the model's dims."""
    one_chain = {name: np.asarray(values)[None, ...] for name, values in draws.items()}
    return xr.DataTree.from_dict({"posterior": as_dataset(model, one_chain, ("chain", "draw"))})


def _by_function(kind: str) -> Callable:
    def run(model, *, seed, draws=1000, function=None, base_dir=None, **_):
        from sbc_helpers.registry import load_function

        result = load_function(function, base_dir)(model, np.random.default_rng(seed), draws)
        if isinstance(result, xr.DataTree):
            return result
        if isinstance(result, dict):
            return posterior_from_draws(model, result)
        raise TypeError(f"{kind} function {function!r} returned {type(result).__name__}; "
                        "expected a dict of draws or a DataTree")

    run.__name__ = f"_{kind}"
    return run


METHODS: dict[str, Callable] = {
    "nuts": _nuts,
    "advi": _variational("advi"),
    "fullrank_advi": _variational("fullrank_advi"),
    "pathfinder": _pathfinder,
    "exact": _by_function("exact"),
    "custom": _by_function("custom"),
}


def fit(model: pm.Model, data: dict[str, np.ndarray], *, seed: int, method: str = "nuts", **settings) -> Fit:
    """Approximate the posterior of ``model`` given ``data`` with ``method`` and its ``settings``.

    ``exact`` and ``custom`` call ``function(model, rng, draws)``, which returns a dict of draws
    (``{name: array(draws, *shape)}``) or a DataTree with a posterior group.
    """
    if method not in METHODS:
        raise ValueError(f"unknown inference method {method!r}; choose one of {', '.join(METHODS)}")
    settings.pop("label", None)
    conditioned = condition(model, data)
    start = time.perf_counter()
    idata = METHODS[method](conditioned, seed=seed, **settings)
    return Fit(idata=idata, seconds=time.perf_counter() - start)
