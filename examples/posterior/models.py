import numpy as np
import pymc as pm


def growth(design):
    """height ~ N(a + b_dose * dose + b_age * age, s), dose and age strongly correlated."""
    with pm.Model(coords={"row": np.arange(len(design))}) as model:
        a = pm.Normal("a", 0, 5)
        b_dose = pm.Normal("b_dose", 0, 1)
        b_age = pm.Normal("b_age", 0, 1)
        s = pm.HalfNormal("s", 1)
        pm.Normal("height", a + b_dose * design["dose"].to_numpy() + b_age * design["age"].to_numpy(), s,
                  observed=np.zeros(len(design)), dims="row")
    return model


def level(design):
    """mu ~ N(0, 1); reading ~ N(mu, 1)."""
    with pm.Model() as model:
        mu = pm.Normal("mu", 0, 1)
        pm.Normal("reading", mu, 1, observed=np.zeros(len(design)))
    return model


def level_exact(model, rng, draws):
    y = np.asarray(model.rvs_to_values[model["reading"]].eval())
    n = len(y)
    return {"mu": rng.normal(y.sum() / (n + 1), np.sqrt(1 / (n + 1)), draws)}
