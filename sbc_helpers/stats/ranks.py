"""Rank: place each true value among L thinned posterior draws (Talts et al. 2018).

A rank is r = #{l : f(theta_l) < f(theta~)} with ties broken uniformly at random, so that with
exact, independent draws r is uniform on {0, ..., L}. A draw within ``TIE_RTOL`` (relative) of the
true value ties with it: a quantity that is constant by construction (a correlation matrix's
diagonal) is computed with rounding errors, which would otherwise decide its rank. (A constant
zero has no relative scale: it ties only where it is computed exactly.) MCMC draws are thinned to
L evenly spaced draws over all chains; ``diagnostics`` records whether the fit's ESS supports that many.
"""

import itertools

import numpy as np
import pandas as pd
import xarray as xr

SAMPLE_DIMS = ("chain", "draw")
TIE_RTOL = 1e-12


def thin_indices(n_draws: int, n_keep: int) -> np.ndarray:
    """``n_keep`` evenly spaced indices into ``n_draws`` pooled draws."""
    if n_keep < 1:
        raise ValueError(f"the number of rank draws L must be at least 1, got {n_keep}")
    if n_keep > n_draws:
        raise ValueError(f"cannot keep L={n_keep} draws out of {n_draws} posterior draws")
    return np.floor(np.arange(n_keep) * (n_draws / n_keep)).astype(int)


def _label(name: str, coords: tuple) -> str:
    return f"{name}[{', '.join(str(c) for c in coords)}]" if coords else name


def scalar_quantities(ds: xr.Dataset, var_names: list[str]) -> dict[str, np.ndarray]:
    """Split every variable into its scalar elements, named like ``alpha[A]``: each a NumPy array
    over the sample dims present (``chain``, ``draw``), 0-d for a true value.

    Non-sample dims are flattened in order; labels come from the coordinates, so names are stable.
    One reshape per variable, not one selection per element: a replicate splits its draws, truth
    and posterior this way several times.
    """
    out: dict[str, np.ndarray] = {}
    for name in var_names:
        da = ds[name]
        sample = [d for d in SAMPLE_DIMS if d in da.dims]
        dims = [d for d in da.dims if d not in SAMPLE_DIMS]
        values = da.transpose(*sample, *dims).to_numpy()
        if not dims:
            out[name] = values
            continue
        flat = values.reshape(*values.shape[:len(sample)], -1)
        for i, key in enumerate(itertools.product(*(da[d].to_numpy() for d in dims))):
            out[_label(name, key)] = flat[..., i]
    return out


def thin(draws: xr.Dataset, n_keep: int) -> xr.Dataset:
    """Keep ``n_keep`` evenly spaced draws along ``draw``, pooling chains first if there are any."""
    if "chain" in draws.dims:
        draws = draws.stack(sample=SAMPLE_DIMS).drop_vars(["sample", "chain", "draw"]).rename(sample="draw")
    keep = thin_indices(draws.sizes["draw"], n_keep)
    return draws.isel(draw=keep).drop_vars("draw", errors="ignore")


def rank(draws: np.ndarray, truth: float, rng: np.random.Generator) -> int:
    """Rank of ``truth`` among ``draws``: the count below it plus a uniform share of the ties.

    A NaN truth or draw has no place in the order: it raises ``ValueError``."""
    draws = np.asarray(draws)
    if np.isnan(truth) or (np.issubdtype(draws.dtype, np.floating) and np.isnan(draws).any()):
        raise ValueError("cannot rank a NaN true value or among NaN draws")
    if np.issubdtype(draws.dtype, np.floating) and np.isfinite(truth):
        tied = np.abs(draws - truth) <= TIE_RTOL * abs(truth)
    else:  # whole numbers and infinities tie exactly
        tied = draws == truth
    below = int(np.sum((draws < truth) & ~tied))
    ties = int(np.sum(tied))
    return below + (int(rng.integers(0, ties + 1)) if ties else 0)


def rank_table(draws: xr.Dataset, truth: xr.Dataset, n_rank_draws: int, seed: int) -> pd.DataFrame:
    """Rank every scalar element of ``draws``' variables among ``n_rank_draws`` of its draws.

    ``draws`` has a ``draw`` dim (the kept, thinned posterior draws); they are thinned again to L
    evenly spaced draws for ranking. Returns tidy rows: ``quantity, variable, rank, max_rank,
    true_value, post_mean, post_sd`` (posterior moments from all kept draws).
    """
    rng = np.random.default_rng(seed)
    names = list(draws.data_vars)
    ranked = scalar_quantities(thin(draws, n_rank_draws), names)
    kept = scalar_quantities(draws, names)
    true = scalar_quantities(truth, names)
    rows = []
    for quantity, values in ranked.items():
        all_draws = kept[quantity].ravel()
        value = float(true[quantity])
        rows.append(
            {
                "quantity": quantity,
                "variable": quantity.split("[", 1)[0],
                "rank": rank(values, value, rng),
                "max_rank": n_rank_draws,
                "true_value": value,
                "post_mean": float(all_draws.mean()),
                "post_sd": float(all_draws.std(ddof=1)),
            }
        )
    return pd.DataFrame(rows)
