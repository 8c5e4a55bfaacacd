"""Design makers: the "true" data structure a model is built on (covariates, groups, sizes).

SBC simulates the outcome from the model, so a design only needs to fix what the model is
conditioned on; the outcome column it carries is there to plot and is replaced in every replicate.
Each maker is registered in ``DESIGNS`` under its function name, so a params file can say
``design: {maker: eight_schools_design}``; ``sbc_helpers.models.library.MODEL_DESIGNS`` says which maker
each library model goes with.
"""

from string import ascii_uppercase

import numpy as np
import pandas as pd

EIGHT_SCHOOLS = {
    "school": ["A", "B", "C", "D", "E", "F", "G", "H"],
    "sigma": [15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0],
    "y": [28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0],
}


def seed_design(n_groups: int = 5, n_points: int = 10, seed: int = 1234) -> pd.DataFrame:
    """The seed analysis' mock data: ``n_groups`` x ``n_points`` rows with x ~ N(0, 1).

    Group labels are an ordered categorical (A, B, ...). A "true" outcome ``y`` is drawn from the
    model's own likelihood (alpha ~ N(0, 5), beta ~ N(0, 1) per group, sigma = 0.5); the seed added
    ``|N(0, sigma)|`` noise instead, which is not the model and plays no part in SBC.
    """
    if n_groups < 1 or n_groups > len(ascii_uppercase):
        raise ValueError(f"n_groups must be between 1 and {len(ascii_uppercase)}, got {n_groups}")
    if n_points < 1:
        raise ValueError(f"n_points must be at least 1, got {n_points}")
    rng = np.random.default_rng(seed)
    labels = list(ascii_uppercase[:n_groups])
    alpha = rng.normal(0, 5, n_groups)
    beta = rng.normal(0, 1, n_groups)
    x = rng.normal(0, 1, n_groups * n_points)
    group = pd.Categorical(np.repeat(labels, n_points), categories=labels, ordered=True)
    idx = group.codes
    y = alpha[idx] + beta[idx] * x + rng.normal(0, 0.5, len(x))
    return pd.DataFrame({"x": x, "group": group, "y": y})


def eight_schools_design() -> pd.DataFrame:
    """The eight schools data (Rubin 1981; Stan User's Guide): columns school, sigma (the known
    standard error of each school's estimated effect) and y (the estimate)."""
    return pd.DataFrame(EIGHT_SCHOOLS)


def regression_design(n_points: int = 50, n_covariates: int = 2, seed: int = 1234) -> pd.DataFrame:
    """``n_points`` rows of ``n_covariates`` independent N(0, 1) covariates, columns x1, x2, ...

    For ``linear_regression`` and ``logistic_regression``, which read every column named x, x1,
    x2, ... (the outcome is simulated, so none is given).
    """
    if n_points < 1:
        raise ValueError(f"n_points must be at least 1, got {n_points}")
    if n_covariates < 1:
        raise ValueError(f"n_covariates must be at least 1, got {n_covariates}")
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (n_points, n_covariates))
    return pd.DataFrame(x, columns=[f"x{j + 1}" for j in range(n_covariates)])


def normal_normal_design(n_points: int = 10, sigma: float | list[float] = 1.0) -> pd.DataFrame:
    """``n_points`` observations of a normal mean with known standard deviations: column sigma
    (one value for all, or one per point). For ``normal_normal``."""
    if n_points < 1:
        raise ValueError(f"n_points must be at least 1, got {n_points}")
    sigma = np.broadcast_to(np.asarray(sigma, dtype=float), (n_points,)).copy()
    if (sigma <= 0).any():
        raise ValueError("sigma must be positive")
    return pd.DataFrame({"sigma": sigma})


def binomial_design(n_points: int = 10, trials: int | list[int] = 20) -> pd.DataFrame:
    """``n_points`` binomial counts with known numbers of trials: column n (one value for all, or
    one per point). For ``beta_binomial``."""
    if n_points < 1:
        raise ValueError(f"n_points must be at least 1, got {n_points}")
    n = np.broadcast_to(np.asarray(trials, dtype=int), (n_points,)).copy()
    if (n < 0).any():
        raise ValueError("trials must be non-negative")
    return pd.DataFrame({"n": n})


def group_codes(design: pd.DataFrame, column: str = "group") -> tuple[np.ndarray, list[str]]:
    """Integer codes and labels of a design's group column (categorical or not)."""
    if column not in design:
        raise ValueError(f"the design has no column {column!r} (it has: {', '.join(map(str, design.columns))})")
    groups = design[column]
    if not isinstance(groups.dtype, pd.CategoricalDtype):
        groups = pd.Categorical(groups, categories=sorted(groups.unique()), ordered=True)
    else:
        groups = groups.array
    return np.asarray(groups.codes), [str(c) for c in groups.categories]


DESIGNS = {
    "seed_design": seed_design,
    "eight_schools_design": eight_schools_design,
    "regression_design": regression_design,
    "normal_normal_design": normal_normal_design,
    "binomial_design": binomial_design,
}
