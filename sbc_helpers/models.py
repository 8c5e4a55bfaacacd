"""Model builders: functions of a design that return a ``pm.Model`` with observed variables.

The seed's ``build_model`` read a global ``group_idx``; here everything comes from the design.
SBC replaces the observed values with simulated ones (``pm.observe``), so a design's outcome column
is optional: without one the builder observes zeros of the right shape.
"""

from collections.abc import Callable

import numpy as np
import pandas as pd
import pymc as pm

from sbc_helpers.designs import group_codes


def _outcome(design: pd.DataFrame, column: str = "y") -> np.ndarray:
    if column in design:
        return design[column].to_numpy(dtype=float)
    return np.zeros(len(design))


def hierarchical_centered(design: pd.DataFrame) -> pm.Model:
    """The seed's hierarchical linear regression, centred: alpha, beta ~ N(mu, sigma) per group."""
    idx, labels = group_codes(design)
    x = design["x"].to_numpy(dtype=float)
    with pm.Model(coords={"group": labels, "obs": np.arange(len(design))}) as model:
        mu_alpha = pm.Normal("mu_alpha", 0, 2)
        sigma_alpha = pm.HalfNormal("sigma_alpha", 2)
        mu_beta = pm.Normal("mu_beta", 0, 1)
        sigma_beta = pm.HalfNormal("sigma_beta", 1)
        alpha = pm.Normal("alpha", mu_alpha, sigma_alpha, dims="group")
        beta = pm.Normal("beta", mu_beta, sigma_beta, dims="group")
        mu = pm.Deterministic("mu", alpha[idx] + beta[idx] * x, dims="obs")
        sigma = pm.HalfNormal("sigma", 2)
        pm.Normal("y", mu, sigma, observed=_outcome(design), dims="obs")
    return model


def hierarchical_noncentered(design: pd.DataFrame) -> pm.Model:
    """The same model, non-centred: alpha = mu_alpha + sigma_alpha * z_alpha (no funnel)."""
    idx, labels = group_codes(design)
    x = design["x"].to_numpy(dtype=float)
    with pm.Model(coords={"group": labels, "obs": np.arange(len(design))}) as model:
        mu_alpha = pm.Normal("mu_alpha", 0, 2)
        sigma_alpha = pm.HalfNormal("sigma_alpha", 2)
        mu_beta = pm.Normal("mu_beta", 0, 1)
        sigma_beta = pm.HalfNormal("sigma_beta", 1)
        z_alpha = pm.Normal("z_alpha", 0, 1, dims="group")
        z_beta = pm.Normal("z_beta", 0, 1, dims="group")
        alpha = pm.Deterministic("alpha", mu_alpha + sigma_alpha * z_alpha, dims="group")
        beta = pm.Deterministic("beta", mu_beta + sigma_beta * z_beta, dims="group")
        mu = pm.Deterministic("mu", alpha[idx] + beta[idx] * x, dims="obs")
        sigma = pm.HalfNormal("sigma", 2)
        pm.Normal("y", mu, sigma, observed=_outcome(design), dims="obs")
    return model


MODELS: dict[str, Callable[..., pm.Model]] = {
    "hierarchical_centered": hierarchical_centered,
    "hierarchical_noncentered": hierarchical_noncentered,
}
