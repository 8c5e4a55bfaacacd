"""Models, exact posteriors and simulators for the validation cases whose SBC answer is known.

Modrák et al. (2023), section on the multivariate normal: mu ~ MVN(0, S), y_1..y_n ~ MVN(mu, S),
S = [[1, .8], [.8, 1]], n = 3, exact posterior MVN(n * ybar / (n + 1), S / (n + 1)). Three broken
"posteriors" keep every marginal rank uniform or nearly so, yet are wrong: only data-dependent or
derived test quantities catch them.
"""

import numpy as np
import pandas as pd
import pymc as pm

S = np.array([[1.0, 0.8], [0.8, 1.0]])


def mvn_design(n: int = 3) -> pd.DataFrame:
    """n observations of a 2-vector (the design only fixes n)."""
    return pd.DataFrame({"obs": np.arange(n)})


def mvn_model(design: pd.DataFrame) -> pm.Model:
    """mu ~ MVN(0, S); y_i ~ MVN(mu, S), i = 1..n."""
    n = len(design)
    with pm.Model(coords={"dim": ["d1", "d2"], "obs": np.arange(n)}) as model:
        mu = pm.MvNormal("mu", mu=np.zeros(2), cov=S, dims="dim")
        pm.MvNormal("y", mu=mu, cov=S, observed=np.zeros((n, 2)), dims=("obs", "dim"))
    return model


def _observed(model: pm.Model) -> np.ndarray:
    return np.asarray(model.rvs_to_values[model["y"]].eval())


def _mvn_draws(rng, mean, cov, draws):
    return {"mu": rng.multivariate_normal(mean, cov, size=draws)}


def mvn_posterior(model, rng, draws):
    """The exact posterior: calibrated."""
    y = _observed(model)
    n = len(y)
    return _mvn_draws(rng, n * y.mean(axis=0) / (n + 1), S / (n + 1), draws)


def mvn_prior_as_posterior(model, rng, draws):
    """Broken: ignores the data and returns the prior."""
    return _mvn_draws(rng, np.zeros(2), S, draws)


def mvn_drop_one(model, rng, draws):
    """Broken: the exact posterior of all observations but the last."""
    y = _observed(model)[:-1]
    n = len(y)
    return _mvn_draws(rng, n * y.mean(axis=0) / (n + 1), S / (n + 1), draws)


def mvn_drop_correlation(model, rng, draws):
    """Broken: the posterior as if the two dimensions were independent (same marginals)."""
    y = _observed(model)
    n = len(y)
    return _mvn_draws(rng, n * y.mean(axis=0) / (n + 1), np.diag(np.diag(S)) / (n + 1), draws)


def normal_design(n: int = 20) -> pd.DataFrame:
    return pd.DataFrame({"obs": np.arange(n)})


def normal_model(design: pd.DataFrame) -> pm.Model:
    """mu ~ N(0, 2); sigma ~ HalfNormal(2); y_i ~ N(mu, sigma)."""
    with pm.Model(coords={"obs": np.arange(len(design))}) as model:
        mu = pm.Normal("mu", 0, 2)
        sigma = pm.HalfNormal("sigma", 2)
        pm.Normal("y", mu, sigma, observed=np.zeros(len(design)), dims="obs")
    return model


def student_t_simulator(rng, design):
    """Parameters from normal_model's prior, but data from a Student-t(4): a misspecified likelihood."""
    mu = rng.normal(0, 2)
    sigma = abs(rng.normal(0, 2))
    y = mu + sigma * rng.standard_t(4, size=len(design))
    return {"mu": mu, "sigma": sigma}, {"y": y}


def wide_prior_linear_simulator(rng, design):
    """Data from a linear regression whose coefficients come from N(0, 3), fitted by
    ``linear_regression``, whose prior on them is N(0, 1): the model's prior is too narrow."""
    X = design[[c for c in design.columns if c.startswith("x")]].to_numpy()
    intercept = rng.normal(0, 2)
    beta = rng.normal(0, 3, X.shape[1])
    sigma = abs(rng.normal(0, 1))
    y = intercept + X @ beta + rng.normal(0, sigma, len(design))
    return {"intercept": intercept, "beta": beta, "sigma": sigma}, {"y": y}


def correlated_design(n_points: int = 20, rho: float = 0.95, seed: int = 1234) -> pd.DataFrame:
    """Two covariates x1, x2 with correlation ``rho``: ``linear_regression``'s coefficients then have a
    strongly (negatively) correlated posterior, which mean-field ADVI cannot represent."""
    rng = np.random.default_rng(seed)
    x = rng.multivariate_normal([0.0, 0.0], [[1.0, rho], [rho, 1.0]], size=n_points)
    return pd.DataFrame(x, columns=["x1", "x2"])
