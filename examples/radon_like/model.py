"""A radon-like varying-intercept model, written outside ``sbc_helpers`` to show a user's own model.

Log radon in houses (rows of the design) varies by county, and is lower when measured on the
ground floor rather than in the basement (``floor`` = 1). The county intercepts are partially
pooled, non-centred: a = mu_a + sigma_a * z_a. Nothing here knows about SBC: the workflow imports
``build_model``, calls it with the design (``design.csv``) and ``model_kwargs``, and replaces the
observed ``log_radon`` with data simulated in each replicate.
"""

import numpy as np
import pandas as pd
import pymc as pm


def build_model(design: pd.DataFrame, floor_prior_sd: float = 0.5) -> pm.Model:
    """Varying intercepts by county, one floor effect: log_radon ~ N(a[county] + b * floor, sigma)."""
    county = pd.Categorical(design["county"])
    floor = design["floor"].to_numpy(dtype=float)
    observed = design["log_radon"].to_numpy(dtype=float) if "log_radon" in design else np.zeros(len(design))
    coords = {"county": [str(c) for c in county.categories], "house": np.arange(len(design))}
    with pm.Model(coords=coords) as model:
        mu_a = pm.Normal("mu_a", 1.0, 1.0)
        sigma_a = pm.HalfNormal("sigma_a", 0.5)
        z_a = pm.Normal("z_a", 0.0, 1.0, dims="county")
        a = pm.Deterministic("a", mu_a + sigma_a * z_a, dims="county")
        b = pm.Normal("b", -0.5, floor_prior_sd)
        sigma = pm.HalfNormal("sigma", 1.0)
        pm.Normal("log_radon", a[county.codes] + b * floor, sigma, observed=observed, dims="house")
    return model
