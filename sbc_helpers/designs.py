"""Design makers: the "true" data structure a model is built on (covariates, groups, sizes).

SBC simulates the outcome from the model, so a design only needs to fix what the model is
conditioned on; the outcome column it carries is there to plot and is replaced in every replicate.
"""

from string import ascii_uppercase

import numpy as np
import pandas as pd


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


def group_codes(design: pd.DataFrame, column: str = "group") -> tuple[np.ndarray, list[str]]:
    """Integer codes and labels of a design's group column (categorical or not)."""
    groups = design[column]
    if not isinstance(groups.dtype, pd.CategoricalDtype):
        groups = pd.Categorical(groups, categories=sorted(groups.unique()), ordered=True)
    else:
        groups = groups.array
    return np.asarray(groups.codes), [str(c) for c in groups.categories]


DESIGNS = {"seed_design": seed_design}
