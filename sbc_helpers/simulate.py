"""Simulate: draw "true" parameters and data, from the model's prior predictive or from an
independent simulator (a generator that does not use the PyMC model, so a model coded wrongly
against its intended generative process shows up as miscalibration)."""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr


@dataclass
class Simulation:
    """One prior draw: the true values of the unobserved variables and the simulated data."""

    truth: xr.Dataset  # free RVs and Deterministics, without chain/draw dims
    data: dict[str, np.ndarray]  # observed variable name -> simulated values


def as_dataset(model: pm.Model, values: dict[str, np.ndarray], sample_dims: tuple[str, ...] = ()) -> xr.Dataset:
    """A Dataset of ``values`` with the model's dims and coords; ``sample_dims`` lead each array."""
    dims_of = model.named_vars_to_dims
    data = {}
    for name, value in values.items():
        value = np.asarray(value, dtype=float)
        n_own = value.ndim - len(sample_dims)
        own = list(dims_of.get(name, ()) or ())
        own = own if len(own) == n_own else [f"{name}_dim_{i}" for i in range(n_own)]
        data[name] = ((*sample_dims, *own), value)
    ds = xr.Dataset(data)
    coords = {k: list(v) for k, v in model.coords.items() if v is not None and k in ds.dims}
    return ds.assign_coords(coords)


def simulate(
    model: pm.Model,
    seed: int,
    simulator: Callable | None = None,
    design: pd.DataFrame | None = None,
) -> Simulation:
    """Draw one parameter set and one data set.

    Without ``simulator`` the model's own prior predictive is used. A ``simulator(rng, design)``
    returns ``(truth, data)``: dicts of true parameter values and of observed data, keyed by the
    model's variable names.
    """
    observed = [rv.name for rv in model.observed_RVs]
    if not observed:
        raise ValueError("the model has no observed variable: there is nothing to simulate")
    if simulator is not None:
        truth, data = simulator(np.random.default_rng(seed), design)
        missing = sorted(set(observed) - set(data))
        if missing:
            raise ValueError(f"the simulator returned no data for observed variable(s) {', '.join(missing)}")
        return Simulation(truth=as_dataset(model, truth), data={k: np.asarray(data[k]) for k in observed})
    prior = pm.sample_prior_predictive(draws=1, model=model, random_seed=seed)
    truth = prior["prior"].to_dataset().isel(chain=0, draw=0, drop=True)
    predictive = prior["prior_predictive"].to_dataset().isel(chain=0, draw=0, drop=True)
    return Simulation(truth=truth, data={name: predictive[name].to_numpy() for name in observed})
