"""Prior SBC's true values: draw "true" parameters and data, from the model's prior predictive or
from an independent simulator (a generator that does not use the PyMC model, so a model coded
wrongly against its intended generative process shows up as miscalibration).

A simulator is a function ``simulator(rng, design) -> (truth, data)``: ``truth`` maps each *free*
variable of the model to its true value (constrained scale, the variable's shape), ``data`` maps
each observed variable to its simulated values. It need not return the model's Deterministics:
they are computed from the true free values by the model itself (``with_deterministics``), so
ranks, the archive and the log-likelihood see the same quantities whichever way the data came.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from sbc_helpers.compiled.cache import CACHE, graph_key
from sbc_helpers.compiled.shared import in_dtype
from sbc_helpers.errors import NonFiniteError
from sbc_helpers.models.values import as_dataset, with_deterministics


@dataclass
class Simulation:
    """One prior draw: the true values of the unobserved variables and the simulated data."""

    truth: xr.Dataset  # free RVs and Deterministics, without chain/draw dims
    data: dict[str, np.ndarray]  # observed variable name -> simulated values
    conditioning_rows: int = 0  # posterior SBC: leading rows of the data that are observed, not simulated


def _shapes(model: pm.Model) -> dict[str, tuple[int, ...]]:
    """Shapes of the free variables (constrained) and of the observed data."""
    static = [rv.type.shape for rv in model.free_RVs]
    if all(None not in shape for shape in static):
        free = {rv.name: tuple(shape) for rv, shape in zip(model.free_RVs, static, strict=True)}
    else:  # a shape known only at run time: evaluate it (compiles a small function)
        evaluated = model.eval_rv_shapes()
        free = {rv.name: tuple(int(s) for s in evaluated[rv.name]) for rv in model.free_RVs}
    observed = {}
    for rv in model.observed_RVs:
        value = model.rvs_to_values[rv]
        observed[rv.name] = np.shape(value.data if hasattr(value, "data") else value.eval())
    return {**free, **observed}


def check_simulation(model: pm.Model, truth: Mapping, data: Mapping) -> None:
    """Raise a one-line ``ValueError`` unless ``truth`` has every free variable and ``data`` every
    observed one, each in its model shape."""
    if not isinstance(truth, Mapping) or not isinstance(data, Mapping):
        raise ValueError(f"the simulator must return (truth, data), two dicts keyed by variable name; got "
                         f"({type(truth).__name__}, {type(data).__name__})")
    free = [rv.name for rv in model.free_RVs]
    observed = [rv.name for rv in model.observed_RVs]
    missing = [n for n in free if n not in truth]
    if missing:
        raise ValueError(f"the simulator returned no true value for free variable(s) {', '.join(missing)} "
                         "(Deterministics are computed from the free variables; these cannot be)")
    missing = [n for n in observed if n not in data]
    if missing:
        raise ValueError(f"the simulator returned no data for observed variable(s) {', '.join(missing)}")
    shapes = _shapes(model)
    for kind, values, names in (("true value", truth, free), ("data", data, observed)):
        for name in names:
            got = np.shape(values[name])
            if got != shapes[name]:
                raise ValueError(f"the simulator's {kind} for {name!r} has shape {got}; the model's is {shapes[name]}")
            if not np.all(np.isfinite(np.asarray(values[name], dtype=float))):
                raise NonFiniteError(f"the simulator's {kind} for {name!r} is non-finite")


def simulate(
    model: pm.Model,
    seed: int,
    simulator: Callable | None = None,
    design: pd.DataFrame | None = None,
) -> Simulation:
    """Draw one parameter set and one data set.

    Without ``simulator`` the model's own prior predictive is used. A ``simulator(rng, design)``
    returns ``(truth, data)``: dicts keyed by the model's variable names, holding the true value of
    every free variable and the data of every observed variable; Deterministics missing from
    ``truth`` are evaluated at the true free values (the simulator's own are kept), other keys are
    ignored.
    """
    observed = [rv.name for rv in model.observed_RVs]
    if not observed:
        raise ValueError("the model has no observed variable: there is nothing to simulate")
    if simulator is not None:
        result = simulator(np.random.default_rng(seed), design)
        if not (isinstance(result, tuple | list) and len(result) == 2):
            raise ValueError(f"the simulator must return (truth, data), two dicts; got {type(result).__name__}")
        truth, data = result
        check_simulation(model, truth, data)
        data = {rv.name: in_dtype(rv, data[rv.name]) for rv in model.observed_RVs}
        known = [v.name for v in (*model.free_RVs, *model.deterministics) if v.name in truth]
        values = as_dataset(model, {k: truth[k] for k in known})
        return Simulation(truth=with_deterministics(pm.observe(model, data), values), data=data)
    drawn = prior_draw(model, seed)  # = pm.sample_prior_predictive(draws=1, random_seed=seed), compiled once
    unobserved = [v.name for v in (*model.free_RVs, *model.deterministics)]
    truth = as_dataset(model, {name: drawn[name] for name in sorted(unobserved)}, keep_dtype=True)
    return Simulation(truth=truth, data={name: drawn[name] for name in observed})


def prior_draw(model: pm.Model, seed: int) -> dict[str, np.ndarray]:
    """One draw of every free, observed and Deterministic variable from the prior predictive.

    The same draw as ``pm.sample_prior_predictive(draws=1, random_seed=seed)``, with the compiled
    sampling function reused across models of the same graph (only its generators are reseeded)."""
    from pymc.pytensorf import collect_default_updates, compile, reseed_rngs
    from pymc.sampling.mcmc import _get_seeds_per_chain

    names = sorted(v.name for v in [*model.basic_RVs, *model.deterministics])
    outputs = [model[name] for name in names]
    key, inputs = graph_key("prior", model, outputs)

    def build():
        with model:  # compile reads the model's check_bounds
            function = compile([], outputs, random_seed=False, allow_input_downcast=True, accept_inplace=True)
        return function, list(collect_default_updates(inputs=[], outputs=outputs))

    (function, rngs), _ = CACHE.get(key, outputs, inputs, build)
    (seed,) = _get_seeds_per_chain(seed, 1)
    reseed_rngs(rngs, seed)
    return dict(zip(names, (np.asarray(v) for v in function()), strict=True))

