"""Fit: condition a model on simulated data and approximate its posterior with the method under test.

Methods: ``nuts`` (PyMC's samplers: nutpie, pymc, numpyro, blackjax), ``advi`` and
``fullrank_advi`` (``pm.fit``), ``pathfinder`` (pymc-extras, where installed), ``exact`` (a
conjugate posterior function: independent, exact draws) and ``custom`` (any function of the
conditioned model). Every method returns a DataTree with a ``posterior`` group holding every free
variable and Deterministic of the model with the model's dims. ``check_method`` says, without
fitting anything, whether a method can run here.
"""

import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pymc as pm
import xarray as xr

from sbc_helpers.compiled import fit_variational, sample_nutpie
from sbc_helpers.simulate import as_dataset, in_dtype, with_deterministics

SAMPLERS = ("nutpie", "pymc", "numpyro", "blackjax")


@dataclass
class Fit:
    """A posterior approximation and what it cost."""

    idata: xr.DataTree
    seconds: float


def condition(model: pm.Model, data: dict[str, np.ndarray]) -> pm.Model:
    """A copy of ``model`` with its observed variables set to ``data``.

    Data arrive in each observed variable's dtype: counts archived as floats (netCDF, a
    simulator's output) become integers again when they are whole numbers, which ``pm.observe``
    requires of a discrete variable; anything else is a one-line error.
    """
    observed = {rv.name: rv for rv in model.observed_RVs}
    return pm.observe(model, {k: (in_dtype(observed[k], v) if k in observed else v) for k, v in data.items()})


SAMPLER_PACKAGES = {"nutpie": ("nutpie",), "pymc": (), "numpyro": ("numpyro", "jax"), "blackjax": ("blackjax", "jax")}


def _missing_packages(packages: tuple[str, ...]) -> list[str]:
    import importlib.util

    return [p for p in packages if importlib.util.find_spec(p) is None]


def _nuts(model, data, *, seed, cores=1, sampler="nutpie", draws=1000, tune=1000, chains=2, target_accept=0.8, **_):
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    missing = _missing_packages(SAMPLER_PACKAGES[sampler])
    if missing:
        raise RuntimeError(f"sampler {sampler!r} needs {' and '.join(missing)}: pip install {' '.join(missing)}")
    if sampler == "nutpie":
        # the compiled model is reused across data sets (see compiled.py); pm.sample would recompile
        return sample_nutpie(model, data, seed=seed, draws=draws, tune=tune, chains=chains, cores=cores,
                             target_accept=target_accept)
    return pm.sample(
        draws=draws, tune=tune, chains=chains, cores=cores, target_accept=target_accept,
        nuts_sampler=sampler, random_seed=seed, progressbar=False, compute_convergence_checks=False, quiet=True,
        model=condition(model, data),
    )


def _variational(kind: str) -> Callable:
    def run(model, data, *, seed, draws=1000, iterations=20000, **_):
        # pm.fit and approx.sample, with the compiled step reused across data sets (see compiled.py)
        return fit_variational(model, data, kind=kind, seed=seed, iterations=iterations, draws=draws)

    run.__name__ = f"_{kind.replace('-', '_')}"
    return run


def _pathfinder(model, data, *, seed, draws=1000, **_):
    try:
        import pymc_extras as pmx
    except ImportError as err:
        raise RuntimeError("method 'pathfinder' needs pymc-extras: pip install pymc-extras") from err
    # pymc-extras releases pin PyMC tightly; 0.12.1 is the newest whose pin admits PyMC 6.4 (tested)
    return pmx.fit(method="pathfinder", model=condition(model, data), num_draws=draws, random_seed=seed, progressbar=False)


def posterior_from_draws(model: pm.Model, draws: dict[str, np.ndarray]) -> xr.DataTree:
    """Wrap ``{name: array(n_draws, *shape)}`` as a one-chain posterior with the model's dims.

    ``draws`` needs every free variable of ``model``; Deterministics it lacks are computed from them.
    Keys that are not variables of the model are dropped.
    """
    one_chain = {name: np.asarray(values)[None, ...] for name, values in draws.items() if name in model.named_vars}
    return _complete(model, xr.DataTree.from_dict({"posterior": as_dataset(model, one_chain, ("chain", "draw"))}))


def _complete(model: pm.Model, idata: xr.DataTree, who: str = "the posterior") -> xr.DataTree:
    """Check ``idata``'s posterior has every free variable; add the Deterministics it lacks."""
    if "posterior" not in idata.children:
        raise ValueError(f"{who} has no posterior group")
    posterior = idata["posterior"].to_dataset()
    missing = [rv.name for rv in model.free_RVs if rv.name not in posterior]
    if missing:
        raise ValueError(f"{who} has no draws of free variable(s) {', '.join(missing)}")
    for rv in model.free_RVs:
        if posterior[rv.name].dims[:2] != ("chain", "draw"):
            raise ValueError(f"{who}: draws of {rv.name!r} must lead with (chain, draw) dims, got {posterior[rv.name].dims}")
    if all(d.name in posterior for d in model.deterministics):
        return idata
    idata = idata.copy()
    idata["posterior"] = xr.DataTree(with_deterministics(model, posterior, ("chain", "draw")))
    return idata


def _call(func: Callable, model: pm.Model, rng: np.random.Generator, draws: int):
    """Call ``func(model, rng, draws)``, or with fewer arguments when it takes fewer."""
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return func(model, rng, draws)
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return func(model, rng, draws)
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return func(*(model, rng, draws)[:max(1, min(3, len(positional)))])


def _by_function(kind: str) -> Callable:
    def run(model, data, *, seed, draws=1000, function=None, base_dir=None, **_):
        from sbc_helpers.registry import load_function

        if not function:
            raise ValueError(f"method {kind!r} needs 'function' (module:function or file.py:function)")
        model = condition(model, data)
        result = _call(load_function(function, base_dir), model, np.random.default_rng(seed), draws)
        who = f"{kind} function {function!r}"
        if isinstance(result, xr.DataTree):
            return _complete(model, result, who)
        if isinstance(result, xr.Dataset):
            return _complete(model, xr.DataTree.from_dict({"posterior": result}), who)
        if isinstance(result, dict):
            missing = [rv.name for rv in model.free_RVs if rv.name not in result]
            if missing:
                raise ValueError(f"{who} returned no draws of free variable(s) {', '.join(missing)}")
            return posterior_from_draws(model, result)
        raise TypeError(f"{who} returned {type(result).__name__}; "
                        "expected a dict of draws, a posterior Dataset or a DataTree")

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


def check_method(method: str = "nuts", *, sampler: str = "nutpie", function: str | None = None,
                 base_dir=None, **_) -> None:
    """Raise a one-line error if ``method`` cannot run in this environment: an unknown method or
    sampler, a package it needs that is not installed, or a ``function`` that does not load.

    Cheap (nothing is compiled or sampled): meant for checking a campaign before it starts.
    """
    if method not in METHODS:
        raise ValueError(f"unknown inference method {method!r}; choose one of {', '.join(METHODS)}")
    if method == "nuts":
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
        missing = _missing_packages(SAMPLER_PACKAGES[sampler])
        if missing:
            raise RuntimeError(f"sampler {sampler!r} needs {' and '.join(missing)}: pip install {' '.join(missing)}")
    if method == "pathfinder" and _missing_packages(("pymc_extras",)):
        raise RuntimeError("method 'pathfinder' needs pymc-extras: pip install pymc-extras")
    if method in ("exact", "custom"):
        if not function:
            raise ValueError(f"method {method!r} needs 'function' (module:function or file.py:function)")
        from sbc_helpers.registry import load_function

        load_function(function, base_dir)


def fit(model: pm.Model, data: dict[str, np.ndarray], *, seed: int, method: str = "nuts", **settings) -> Fit:
    """Approximate the posterior of ``model`` given ``data`` with ``method`` and its ``settings``.

    ``exact`` and ``custom`` call ``function(model, rng, draws)`` (or ``function(model)``,
    ``function(model, rng)`` when it takes fewer arguments) on the *conditioned* model; it returns a
    dict of draws (``{name: array(draws, *shape)}``), a posterior Dataset or a DataTree with a
    posterior group. Whatever the method, the posterior holds every free variable and every
    Deterministic of the model, with the model's dims.
    """
    if method not in METHODS:
        raise ValueError(f"unknown inference method {method!r}; choose one of {', '.join(METHODS)}")
    settings.pop("label", None)
    start = time.perf_counter()
    idata = METHODS[method](model, data, seed=seed, **settings)
    idata = _complete(condition(model, data), idata, f"method {method!r}")
    return Fit(idata=idata, seconds=time.perf_counter() - start)
