"""Fit: condition a model on simulated data and sample its posterior."""

import time
from dataclasses import dataclass

import numpy as np
import pymc as pm
import xarray as xr

SAMPLERS = ("nutpie", "pymc", "numpyro", "blackjax")


@dataclass
class Fit:
    """A posterior fit and what it cost."""

    idata: xr.DataTree
    seconds: float


def condition(model: pm.Model, data: dict[str, np.ndarray]) -> pm.Model:
    """A copy of ``model`` with its observed variables set to ``data``."""
    return pm.observe(model, data)


def fit(
    model: pm.Model,
    data: dict[str, np.ndarray],
    *,
    seed: int,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 2,
    cores: int = 1,
    target_accept: float = 0.8,
    sampler: str = "nutpie",
) -> Fit:
    """Sample the posterior of ``model`` given ``data`` with NUTS; returns the DataTree and seconds."""
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    conditioned = condition(model, data)
    start = time.perf_counter()
    idata = pm.sample(
        draws=draws,
        tune=tune,
        chains=chains,
        cores=cores,
        target_accept=target_accept,
        nuts_sampler=sampler,
        random_seed=seed,
        progressbar=False,
        compute_convergence_checks=False,
        model=conditioned,
    )
    return Fit(idata=idata, seconds=time.perf_counter() - start)
