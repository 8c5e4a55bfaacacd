"""A hierarchical model written the way PyMC's docs write them (coords, dims on the group-level
parameter, ``pm.Data`` containers), with its exact posterior, for posterior SBC's tests."""

import numpy as np
import pandas as pd
import pymc as pm

from sbc_helpers.models.library import data_value, observed_value

CLINICS = ["north", "east", "south"]
PRIOR_MEAN, PRIOR_SD, NOISE = 1.0, 2.0, 1.0


def design(rows_per_clinic: int) -> pd.DataFrame:
    return pd.DataFrame({"clinic": np.repeat(CLINICS, rows_per_clinic)})


def model(design: pd.DataFrame) -> pm.Model:
    """a[clinic] ~ N(1, 2); visits ~ N(a[clinic], noise), the clinic index and the noise as data."""
    codes = pd.Categorical(design["clinic"], categories=CLINICS).codes
    with pm.Model(coords={"clinic": CLINICS, "row": np.arange(len(design))}) as built:
        clinic = pm.Data("clinic_index", codes, dims="row")
        noise = pm.Data("noise", NOISE)
        a = pm.Normal("a", PRIOR_MEAN, PRIOR_SD, dims="clinic")
        pm.Normal("visits", a[clinic], noise, observed=np.zeros(len(design)), dims="row")
    return built


def posterior(model: pm.Model, rng: np.random.Generator, draws: int) -> dict[str, np.ndarray]:
    """Exact draws of ``a`` given the conditioned model's data: each clinic's conjugate normal."""
    clinic, y = data_value(model, "clinic_index"), observed_value(model, "visits")
    noise = float(data_value(model, "noise"))
    counts = np.bincount(clinic, minlength=len(CLINICS))
    sums = np.bincount(clinic, weights=y, minlength=len(CLINICS))
    precision = 1 / PRIOR_SD**2 + counts / noise**2
    mean = (PRIOR_MEAN / PRIOR_SD**2 + sums / noise**2) / precision
    return {"a": rng.normal(mean, 1 / np.sqrt(precision), size=(draws, len(CLINICS)))}
