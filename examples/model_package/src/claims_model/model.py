"""The claims model and its exact posterior.

Each policy is observed for ``exposure_years`` and has ``claims`` claims; a region's policies share
a claim rate per year. With a Gamma prior on the rates the posterior is Gamma too, which lets the
package's tests check calibration on exact draws in seconds.
"""

from importlib.resources import files

import numpy as np
import pandas as pd
import pymc as pm

PRIOR = {"alpha": 2.0, "beta": 4.0}  # claim rate per year: mean 0.5, sd 0.35


def load_policies() -> pd.DataFrame:
    """The policies the model is built on: region, years observed and claims, indexed by policy."""
    return pd.read_csv(files("claims_model") / "policies.csv", index_col="policy_id")


def build(policies: pd.DataFrame, alpha: float = PRIOR["alpha"], beta: float = PRIOR["beta"]) -> pm.Model:
    """Claims ~ Poisson(rate[region] * exposure), rate ~ Gamma(alpha, beta) per region."""
    region_idx, regions = pd.factorize(policies["region"], sort=True)
    coords = {"region": regions, "policy": policies.index}
    with pm.Model(coords=coords) as model:
        exposure = pm.Data("exposure", policies["exposure_years"].to_numpy(), dims="policy")
        region = pm.Data("region_idx", region_idx, dims="policy")
        claim_rate = pm.Gamma("claim_rate", alpha=alpha, beta=beta, dims="region")
        pm.Poisson("claims", mu=claim_rate[region] * exposure, observed=policies["claims"].to_numpy(),
                   dims="policy")
    return model


def observed(model: pm.Model, name: str) -> np.ndarray:
    """The data an observed variable is conditioned on (a constant after ``pm.observe``)."""
    value = model.rvs_to_values[model[name]]
    return np.asarray(value.data if hasattr(value, "data") else value.eval())


def exact_posterior(model: pm.Model, rng: np.random.Generator, draws: int) -> dict[str, np.ndarray]:
    """Draws of each region's rate from its Gamma(alpha + claims, beta + exposure) posterior, read
    from the model conditioned on (simulated) claims."""
    exposure = model["exposure"].get_value()
    region = model["region_idx"].get_value()
    claims = observed(model, "claims")
    n_regions = len(model.coords["region"])
    shape = PRIOR["alpha"] + np.bincount(region, weights=claims, minlength=n_regions)
    rate = PRIOR["beta"] + np.bincount(region, weights=exposure, minlength=n_regions)
    return {"claim_rate": rng.gamma(shape, 1 / rate, size=(draws, n_regions))}
