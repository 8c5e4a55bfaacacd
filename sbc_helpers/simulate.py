"""Simulate: draw "true" parameters and data from a model's prior predictive."""

from dataclasses import dataclass

import numpy as np
import pymc as pm
import xarray as xr


@dataclass
class Simulation:
    """One prior draw: the true values of every unobserved variable and the simulated data."""

    truth: xr.Dataset  # free RVs and Deterministics, without chain/draw dims
    data: dict[str, np.ndarray]  # observed variable name -> simulated values


def simulate(model: pm.Model, seed: int) -> Simulation:
    """Draw one parameter set and one data set from ``model``'s prior predictive."""
    prior = pm.sample_prior_predictive(draws=1, model=model, random_seed=seed)
    truth = prior["prior"].to_dataset().isel(chain=0, draw=0, drop=True)
    predictive = prior["prior_predictive"].to_dataset().isel(chain=0, draw=0, drop=True)
    observed = [rv.name for rv in model.observed_RVs]
    if not observed:
        raise ValueError("the model has no observed variable: there is nothing to simulate")
    data = {name: predictive[name].to_numpy() for name in observed}
    return Simulation(truth=truth, data=data)
