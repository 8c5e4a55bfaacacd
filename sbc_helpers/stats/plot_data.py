"""What the report's plots draw, computed from the tidy ranks table: PIT values as ArviZ reads them,
rank histograms and their bands, the ECDF difference and its simultaneous band, the coverage of
central intervals, z-scores against contraction. The plots in ``report/plots.py`` only draw them."""

from functools import lru_cache

import numpy as np
import pandas as pd
import xarray as xr
from arviz_stats.ecdf_utils import ecdf_pit
from scipy import stats

from sbc_helpers.stats.calibrate import pit_values


def pit_dataset(ranks: pd.DataFrame, seed: int = 0) -> xr.Dataset:
    """PIT values as a Dataset, one variable per quantity on (chain=1, draw=replicate).

    This is the ``prior_sbc`` layout that ``arviz_plots.plot_ecdf_pit`` and ``azstats`` read.
    """
    ranks = ranks.sort_values(["quantity", "replicate"])
    ranks = ranks.assign(pit=pit_values(ranks, seed))
    data = {
        q: (("chain", "draw"), g["pit"].to_numpy()[None, :])
        for q, g in ranks.groupby("quantity", sort=False)
    }
    return xr.Dataset(data)


def histogram_band(n: int, n_bins: int, level: float = 0.99) -> tuple[float, float]:
    """The central ``level`` interval of a rank-histogram bin count, Binomial(n, 1 / n_bins)."""
    tail = (1 - level) / 2
    dist = stats.binom(n, 1 / n_bins)
    return float(dist.ppf(tail)), float(dist.ppf(1 - tail))


def rank_histogram(rank_values: np.ndarray, max_rank: int, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts and edges of ranks 0..L in ``n_bins`` bins of (nearly) equal width."""
    edges = np.linspace(0, max_rank + 1, n_bins + 1)
    counts, _ = np.histogram(rank_values, bins=edges)
    return counts, edges


def default_bins(n: int, max_rank: int) -> int:
    """Histogram bins: about n / 10 but at most 20 and at most L + 1."""
    return int(max(2, min(20, n // 10 if n >= 20 else 2, max_rank + 1)))


@lru_cache(maxsize=64)
def ecdf_band(n: int, prob: float = 0.99, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simultaneous ``prob`` band of the ECDF difference for ``n`` uniform PIT values.

    ArviZ's ``ecdf_pit`` adjusts the pointwise level by simulation so the whole curve holds
    ``prob`` (Säilynoja et al. 2022). Returns evaluation points and the lower/upper differences.
    """
    x, _, lower, upper = ecdf_pit(np.linspace(0, 1, n), prob, n_simulations=1000,
                                  rng=np.random.default_rng(seed))
    return x, lower - x, upper - x


def coverage(ranks: pd.DataFrame, widths: np.ndarray | None = None, seed: int = 0) -> pd.DataFrame:
    """Coverage of central posterior intervals: the share of true values inside each width.

    A true value lies inside the central interval of width w when |PIT - 0.5| <= w / 2, so coverage
    follows from the ranks. Returns ``variable, width, coverage, lower, upper`` (a 95% Jeffreys
    interval of the share, closed at 0 and 1 when none or all are
    covered), pooled over each variable's elements.
    """
    widths = np.linspace(0.05, 0.95, 19) if widths is None else np.asarray(widths)
    frame = ranks.assign(pit=pit_values(ranks, seed))
    rows = []
    for variable, group in frame.groupby("variable", sort=False):
        inside = np.abs(group["pit"].to_numpy()[:, None] - 0.5) <= widths[None, :] / 2
        hits, n = inside.sum(axis=0), len(group)
        lower, upper = stats.beta.ppf([[0.025], [0.975]], hits + 0.5, n - hits + 0.5)
        lower, upper = np.where(hits == 0, 0.0, lower), np.where(hits == n, 1.0, upper)  # Brown et al. 2001
        rows += [{"variable": variable, "width": w, "coverage": h / n, "lower": lo, "upper": up}
                 for w, h, lo, up in zip(widths, hits, lower, upper, strict=True)]
    return pd.DataFrame(rows)


def zscore_contraction(ranks: pd.DataFrame) -> pd.DataFrame:
    """Per replicate and quantity: z = (true - mean) / sd and contraction = 1 - var_post / var_prior.

    The prior variance of a quantity is estimated from its true values across replicates (they are
    prior draws). Large |z| at high contraction is overfitting; low contraction, an uninformative fit.
    """
    prior_var = ranks.groupby("quantity")["true_value"].transform("var")
    return ranks.assign(
        zscore=(ranks["true_value"] - ranks["post_mean"]) / ranks["post_sd"],
        contraction=1 - ranks["post_sd"] ** 2 / prior_var,
    )


def ecdf_difference(pit: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """ECDF of ``pit`` minus the uniform CDF, evaluated on ``grid``."""
    return np.searchsorted(np.sort(pit), grid, side="right") / len(pit) - grid
