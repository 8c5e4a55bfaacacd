"""An independent simulator for ``model.py``: the same generative story in plain NumPy.

SBC with it checks the PyMC model against the process it is meant to encode: a prior or a
likelihood coded differently in the two files shows up as miscalibration. It returns the free
variables only; the workflow computes the model's Deterministics (the county intercepts ``a``)
from them.
"""

import numpy as np
import pandas as pd


def simulate(rng: np.random.Generator, design: pd.DataFrame) -> tuple[dict, dict]:
    """One draw of (true free variables, data) for ``build_model`` with its default floor_prior_sd."""
    county = pd.Categorical(design["county"])
    floor = design["floor"].to_numpy(dtype=float)
    truth = {
        "mu_a": rng.normal(1.0, 1.0),
        "sigma_a": abs(rng.normal(0.0, 0.5)),
        "z_a": rng.normal(0.0, 1.0, len(county.categories)),
        "b": rng.normal(-0.5, 0.5),
        "sigma": abs(rng.normal(0.0, 1.0)),
    }
    a = truth["mu_a"] + truth["sigma_a"] * truth["z_a"]
    log_radon = rng.normal(a[county.codes] + truth["b"] * floor, truth["sigma"])
    return truth, {"log_radon": log_radon}
