"""Model builders: functions of a design that return a ``pm.Model`` with observed variables.

The seed's ``build_model`` read a global ``group_idx``; here everything comes from the design.
SBC replaces the observed values with simulated ones (``pm.observe``), so a design's outcome column
is optional: without one the builder observes zeros of the right shape.

The library (``MODELS``; ``MODEL_DESIGNS`` names the design maker each one goes with):

- ``hierarchical_centered`` / ``hierarchical_noncentered``: the seed's varying intercepts and slopes;
- ``eight_schools_centered`` / ``eight_schools_noncentered``: the Stan User's Guide's eight schools;
- ``linear_regression``, ``logistic_regression``: on the design's covariate columns x, x1, x2, ...;
- ``poisson_varying_intercepts``: counts with one intercept per group and covariate slopes;
- ``normal_normal``, ``beta_binomial``: conjugate models whose exact posteriors
  (``normal_normal_posterior``, ``beta_binomial_posterior``) validate the workflow itself:
  ``inference: {method: exact, function: sbc_helpers.models:normal_normal_posterior}``.

Exact posterior functions receive the *conditioned* model (the simulated data observed), so they
read everything from it, never from module state: hyperparameters and known constants are
``pm.Data`` nodes of the model (``data_value(model, "m0")``), which ``pm.observe`` carries over to the
conditioned copy, and the observed data is the value of the observed variable
(``observed_value(model, "y")``). A user's own exact or custom posterior can do the same.
"""

import re
from collections.abc import Callable

import numpy as np
import pandas as pd
import pymc as pm
from pytensor.graph.basic import Constant

from sbc_helpers.models.designs import group_codes


def _column(design: pd.DataFrame, name: str, dtype=float) -> np.ndarray:
    """A design column as an array; a missing one is a one-line error listing the columns there are."""
    if name not in design:
        raise ValueError(f"the design has no column {name!r} (it has: {', '.join(map(str, design.columns)) or 'none'})")
    return design[name].to_numpy(dtype=dtype)


def _outcome(design: pd.DataFrame, column: str = "y", discrete: bool = False) -> np.ndarray:
    """The design's outcome, or zeros when it has none (SBC replaces it); discrete models take it
    only when it holds non-negative whole numbers."""
    if column in design:
        values = design[column].to_numpy(dtype=float)
        if not discrete:
            return values
        if np.all(np.isfinite(values)) and np.all(values >= 0) and np.all(values == np.round(values)):
            return values.astype(int)
    return np.zeros(len(design), dtype=int if discrete else float)


def _covariates(design: pd.DataFrame, covariates: list[str] | None) -> tuple[np.ndarray, list[str]]:
    """The covariate matrix: the ``covariates`` columns, or every column named x, x1, x2, ..."""
    names = list(covariates) if covariates is not None else [
        str(c) for c in design.columns if re.fullmatch(r"x\d*", str(c))
    ]
    if not names:
        raise ValueError(
            f"the design has no covariate column named x, x1, x2, ... (it has: "
            f"{', '.join(map(str, design.columns)) or 'none'}); name them in model_kwargs: covariates"
        )
    return np.column_stack([_column(design, n) for n in names]), names


def observed_value(model: pm.Model, name: str = "y") -> np.ndarray:
    """The data an observed variable of ``model`` is conditioned on (after ``pm.observe`` too)."""
    value = model.rvs_to_values[model[name]]
    return np.asarray(value.data if isinstance(value, Constant) else value.eval())


def data_value(model: pm.Model, name: str) -> np.ndarray:
    """The value of a ``pm.Data`` node (or any variable computable without random inputs)."""
    node = model[name]
    return np.asarray(node.get_value() if hasattr(node, "get_value") else node.eval())


# --- the seed's hierarchical linear regression ---------------------------------------------------


def hierarchical_centered(design: pd.DataFrame) -> pm.Model:
    """The seed's hierarchical linear regression, centred: alpha, beta ~ N(mu, sigma) per group."""
    idx, labels = group_codes(design)
    x = _column(design, "x")
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
    x = _column(design, "x")
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


# --- eight schools --------------------------------------------------------------------------------


def _schools(design: pd.DataFrame) -> tuple[np.ndarray, list[str], np.ndarray]:
    idx, labels = group_codes(design, "school")
    return idx, labels, _column(design, "sigma")


def eight_schools_centered(design: pd.DataFrame) -> pm.Model:
    """Eight schools, centred: mu ~ N(0, 5), tau ~ HalfNormal(5), theta ~ N(mu, tau), y ~ N(theta, sigma known)."""
    idx, labels, sigma = _schools(design)
    with pm.Model(coords={"school": labels, "obs": np.arange(len(design))}) as model:
        mu = pm.Normal("mu", 0, 5)
        tau = pm.HalfNormal("tau", 5)
        theta = pm.Normal("theta", mu, tau, dims="school")
        pm.Normal("y", theta[idx], sigma, observed=_outcome(design), dims="obs")
    return model


def eight_schools_noncentered(design: pd.DataFrame) -> pm.Model:
    """Eight schools, non-centred: theta = mu + tau * eta with eta ~ N(0, 1) (same model, no funnel)."""
    idx, labels, sigma = _schools(design)
    with pm.Model(coords={"school": labels, "obs": np.arange(len(design))}) as model:
        mu = pm.Normal("mu", 0, 5)
        tau = pm.HalfNormal("tau", 5)
        eta = pm.Normal("eta", 0, 1, dims="school")
        theta = pm.Deterministic("theta", mu + tau * eta, dims="school")
        pm.Normal("y", theta[idx], sigma, observed=_outcome(design), dims="obs")
    return model


# --- regressions ----------------------------------------------------------------------------------


def _regression(design: pd.DataFrame, covariates: list[str] | None, intercept_sd: float):
    """A regression's model with its linear predictor: intercept ~ N(0, intercept_sd), beta ~ N(0, 1)
    over the covariates; the likelihood is the caller's."""
    X, names = _covariates(design, covariates)
    with pm.Model(coords={"covariate": names, "obs": np.arange(len(design))}) as model:
        intercept = pm.Normal("intercept", 0, intercept_sd)
        beta = pm.Normal("beta", 0, 1, dims="covariate")
    return model, intercept + pm.math.dot(X, beta)


def linear_regression(design: pd.DataFrame, covariates: list[str] | None = None) -> pm.Model:
    """Linear regression: y ~ N(intercept + X beta, sigma), intercept ~ N(0, 2), beta ~ N(0, 1), sigma ~ HalfNormal(1)."""
    model, mean = _regression(design, covariates, 2)
    with model:
        sigma = pm.HalfNormal("sigma", 1)
        pm.Normal("y", mean, sigma, observed=_outcome(design), dims="obs")
    return model


def logistic_regression(design: pd.DataFrame, covariates: list[str] | None = None) -> pm.Model:
    """Logistic regression: y ~ Bernoulli(logit^-1(intercept + X beta)), intercept ~ N(0, 1.5), beta ~ N(0, 1)."""
    model, logit_p = _regression(design, covariates, 1.5)
    with model:
        pm.Bernoulli("y", logit_p=logit_p, observed=_outcome(design, discrete=True), dims="obs")
    return model


def poisson_varying_intercepts(design: pd.DataFrame, covariates: list[str] | None = None) -> pm.Model:
    """Poisson regression, one intercept per group: log rate = a[group] + X beta, a = mu_a + sigma_a * z (non-centred)."""
    idx, labels = group_codes(design)
    has_x = covariates is not None or any(re.fullmatch(r"x\d*", str(c)) for c in design.columns)
    X, names = _covariates(design, covariates) if has_x else (np.zeros((len(design), 0)), [])
    with pm.Model(coords={"group": labels, "covariate": names, "obs": np.arange(len(design))}) as model:
        mu_a = pm.Normal("mu_a", 1, 0.5)
        sigma_a = pm.HalfNormal("sigma_a", 0.5)
        z_a = pm.Normal("z_a", 0, 1, dims="group")
        a = pm.Deterministic("a", mu_a + sigma_a * z_a, dims="group")
        log_rate = a[idx]
        if names:
            beta = pm.Normal("beta", 0, 0.5, dims="covariate")
            log_rate = log_rate + pm.math.dot(X, beta)
        pm.Poisson("y", pm.math.exp(log_rate), observed=_outcome(design, discrete=True), dims="obs")
    return model


# --- conjugate models with exact posteriors --------------------------------------------------------


def normal_normal(design: pd.DataFrame, m0: float = 0.0, s0: float = 1.0, sigma: float = 1.0) -> pm.Model:
    """Normal mean, known sd: mu ~ N(m0, s0), y_i ~ N(mu, sigma_i), sigma_i from design column 'sigma' (else ``sigma``)."""
    n = len(design)
    sigmas = _column(design, "sigma") if "sigma" in design else np.full(n, float(sigma))
    with pm.Model(coords={"obs": np.arange(n)}) as model:
        prior_mean = pm.Data("m0", float(m0))
        prior_sd = pm.Data("s0", float(s0))
        known_sd = pm.Data("sigma", sigmas, dims="obs")
        mu = pm.Normal("mu", prior_mean, prior_sd)
        pm.Normal("y", mu, known_sd, observed=_outcome(design), dims="obs")
    return model


def normal_normal_posterior(model: pm.Model, rng: np.random.Generator, draws: int) -> dict[str, np.ndarray]:
    """Exact posterior draws of ``normal_normal``'s mu: N(m, v) with 1/v = 1/s0^2 + sum 1/sigma_i^2 and
    m = v (m0/s0^2 + sum y_i/sigma_i^2), read from the conditioned ``model``."""
    m0, s0 = float(data_value(model, "m0")), float(data_value(model, "s0"))
    sigma, y = data_value(model, "sigma"), observed_value(model, "y")
    precision = 1 / s0**2 + np.sum(1 / sigma**2)
    mean = (m0 / s0**2 + np.sum(y / sigma**2)) / precision
    return {"mu": rng.normal(mean, 1 / np.sqrt(precision), size=draws)}


def beta_binomial(design: pd.DataFrame, a: float = 1.0, b: float = 1.0, trials: int = 20) -> pm.Model:
    """Binomial proportion: p ~ Beta(a, b), y_i ~ Binomial(n_i, p), n_i from design column 'n' (else ``trials``)."""
    size = len(design)
    n = _column(design, "n", dtype=int) if "n" in design else np.full(size, int(trials))
    with pm.Model(coords={"obs": np.arange(size)}) as model:
        prior_a = pm.Data("a", float(a))
        prior_b = pm.Data("b", float(b))
        trials_ = pm.Data("n", n, dims="obs")
        p = pm.Beta("p", prior_a, prior_b)
        pm.Binomial("y", trials_, p, observed=np.minimum(_outcome(design, discrete=True), n), dims="obs")
    return model


def beta_binomial_posterior(model: pm.Model, rng: np.random.Generator, draws: int) -> dict[str, np.ndarray]:
    """Exact posterior draws of ``beta_binomial``'s p: Beta(a + sum y, b + sum (n - y)), read from the
    conditioned ``model``."""
    a, b = float(data_value(model, "a")), float(data_value(model, "b"))
    n, y = data_value(model, "n"), observed_value(model, "y")
    return {"p": rng.beta(a + y.sum(), b + (n - y).sum(), size=draws)}


MODELS: dict[str, Callable[..., pm.Model]] = {
    "hierarchical_centered": hierarchical_centered,
    "hierarchical_noncentered": hierarchical_noncentered,
    "eight_schools_centered": eight_schools_centered,
    "eight_schools_noncentered": eight_schools_noncentered,
    "linear_regression": linear_regression,
    "logistic_regression": logistic_regression,
    "poisson_varying_intercepts": poisson_varying_intercepts,
    "normal_normal": normal_normal,
    "beta_binomial": beta_binomial,
}

MODEL_DESIGNS: dict[str, dict] = {
    "hierarchical_centered": {"maker": "seed_design"},
    "hierarchical_noncentered": {"maker": "seed_design"},
    "eight_schools_centered": {"maker": "eight_schools_design"},
    "eight_schools_noncentered": {"maker": "eight_schools_design"},
    "linear_regression": {"maker": "regression_design"},
    "logistic_regression": {"maker": "regression_design"},
    "poisson_varying_intercepts": {"maker": "seed_design"},
    "normal_normal": {"maker": "normal_normal_design"},
    "beta_binomial": {"maker": "binomial_design"},
}
"""The design (a ``design:`` params entry) each library model is built on by default in examples."""

EXACT_POSTERIORS: dict[str, Callable[..., dict[str, np.ndarray]]] = {
    "normal_normal": normal_normal_posterior,
    "beta_binomial": beta_binomial_posterior,
}
"""Library models with an exact posterior: ``inference: {method: exact, function: sbc_helpers.models:<name>_posterior}``."""
