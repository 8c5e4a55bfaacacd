"""Plots of a campaign: draw figures of numbers computed in ``stats`` (one panel per quantity)."""

import arviz_plots as azp
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr

from sbc_helpers.report.figures import text
from sbc_helpers.stats.calibrate import default_bins, ecdf_band, histogram_band, pit_dataset, rank_histogram
from sbc_helpers.stats.calibrate import ecdf_difference as ecdf_difference_values


def _grid(n: int, ncols: int = 4):
    nrows = max(1, int(np.ceil(n / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.4 * nrows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes.flat


def rank_histograms(ranks: pd.DataFrame, level: float = 0.99):
    """One rank histogram per quantity with the ``level`` binomial band of a uniform bin count."""
    groups = list(ranks.groupby("quantity", sort=False))
    fig, axes = _grid(len(groups))
    for ax, (quantity, group) in zip(axes, groups, strict=False):
        max_rank = int(group["max_rank"].iloc[0])
        n_bins = default_bins(len(group), max_rank)
        counts, edges = rank_histogram(group["rank"].to_numpy(), max_rank, n_bins)
        low, high = histogram_band(len(group), n_bins, level)
        ax.axhspan(low, high, color="0.85", zorder=0)
        ax.axhline(len(group) / n_bins, color="0.5", lw=1, zorder=1)
        ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color="C0", edgecolor="white", zorder=2)
        ax.set_title(text(quantity), fontsize=9)
        ax.set_yticks([])
    fig.suptitle(f"Rank histograms ({level:.0%} band of a uniform bin count)", fontsize=10)
    fig.tight_layout()
    return fig


def ecdf_difference(ranks: pd.DataFrame, band_prob: float = 0.99, seed: int = 0):
    """ECDF differences of PIT values with a simultaneous band, one panel per quantity.

    ``arviz_plots.plot_ecdf_pit`` draws the curves, its pot_c p-value and suspicious points; the
    band (``calibrate.ecdf_band``) is shaded behind them (arviz-plots' own envelope method
    fails with NumPy 2.5).
    """
    pit = pit_dataset(ranks, seed)
    pit = pit.rename({q: text(q) for q in pit.data_vars if text(q) != q})
    rows = int(np.ceil(len(pit.data_vars) / 4))
    pc = azp.plot_ecdf_pit(
        xr.DataTree.from_dict({"prior_sbc": pit}),
        backend="matplotlib",
        col_wrap=4,
        figure_kwargs={"figsize": (13, 2.6 * rows)},
    )
    for quantity in pit.data_vars:
        ax = pc.viz["plot"][quantity].item()
        x, lower, upper = ecdf_band(pit.sizes["draw"], band_prob)
        ax.fill_between(x, lower, upper, step="post", color="0.85", zorder=0, lw=0)
    return pc


def true_vs_mean(ranks: pd.DataFrame):
    """Posterior mean against the true value, one panel per variable; the diagonal is perfect recovery."""
    groups = list(ranks.groupby("variable", sort=False))
    fig, axes = _grid(len(groups))
    for ax, (variable, group) in zip(axes, groups, strict=False):
        ax.scatter(group["true_value"], group["post_mean"], s=6, alpha=0.5)
        low = min(group["true_value"].min(), group["post_mean"].min())
        high = max(group["true_value"].max(), group["post_mean"].max())
        ax.plot([low, high], [low, high], color="0.5", lw=1)
        ax.set_title(text(variable), fontsize=9)
        ax.set_xlabel("true", fontsize=8)
        ax.set_ylabel("posterior mean", fontsize=8)
    fig.tight_layout()
    return fig


def zscore_vs_contraction(table: pd.DataFrame):
    """Posterior z-score against posterior contraction (``calibrate.zscore_contraction``)."""
    groups = list(table.groupby("variable", sort=False))
    fig, axes = _grid(len(groups))
    for ax, (variable, group) in zip(axes, groups, strict=False):
        ax.scatter(group["contraction"], group["zscore"], s=6, alpha=0.5)
        ax.axhline(0, color="0.5", lw=1)
        ax.set_xlim(min(0, group["contraction"].min()), 1)
        ax.set_title(text(variable), fontsize=9)
        ax.set_xlabel("contraction", fontsize=8)
        ax.set_ylabel("z-score", fontsize=8)
    fig.tight_layout()
    return fig


def coverage(table: pd.DataFrame):
    """Observed coverage of central intervals against their width (``calibrate.coverage``)."""
    groups = list(table.groupby("variable", sort=False))
    fig, axes = _grid(len(groups))
    for ax, (variable, group) in zip(axes, groups, strict=False):
        ax.fill_between(group["width"], group["lower"] - group["width"], group["upper"] - group["width"],
                        color="0.85", lw=0)
        ax.plot(group["width"], group["coverage"] - group["width"], color="C0")
        ax.axhline(0, color="0.5", lw=1)
        ax.set_title(text(variable), fontsize=9)
        ax.set_xlabel("interval width", fontsize=8)
        ax.set_ylabel("coverage - width", fontsize=8)
    fig.tight_layout()
    return fig


def ecdf_panels(curves: dict[str, dict[str, np.ndarray]], n: int, band_prob: float = 0.99,
                ncols: int = 4, size: tuple[float, float] = (3.2, 2.2)):
    """ECDF-difference curves on shared axes: ``{quantity: {label: PIT values}}``, one panel each.

    Used for index thumbnails (one label) and for comparing models or methods (several labels);
    the band is the simultaneous ``band_prob`` band for ``n`` replicates.
    """
    grid = np.linspace(0, 1, 201)
    x, lower, upper = ecdf_band(n, band_prob)
    ncols = min(ncols, max(1, len(curves)))
    nrows = max(1, int(np.ceil(len(curves) / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False,
                             sharey=True)
    for ax in axes.flat[len(curves):]:
        ax.set_visible(False)
    for ax, (quantity, by_label) in zip(axes.flat, curves.items(), strict=False):
        ax.fill_between(x, lower, upper, step="post", color="0.88", lw=0)
        ax.axhline(0, color="0.5", lw=0.8)
        for i, (label, pit) in enumerate(by_label.items()):
            ax.step(grid, ecdf_difference_values(pit, grid), where="post", color=f"C{i}", lw=1.3, label=text(label))
        ax.set_title(text(quantity), fontsize=9)
        ax.tick_params(labelsize=7)
    if any(len(v) > 1 for v in curves.values()):
        axes.flat[0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def evidence(paths: pd.DataFrame, alpha: float, stopped_at: int | None = None, n: int = 8):
    """The sequential test's evidence: each quantity's adjusted e-value after each replicate (log
    scale), the ``n`` highest, against the stopping threshold 1 / ``alpha``."""
    fig, ax = plt.subplots(figsize=(8, 3.6))
    values = paths.drop(columns="replicate") / np.log(10)
    order = values.max().sort_values(ascending=False).index[:n]
    count = np.arange(1, len(values) + 1)
    for i, quantity in enumerate(order):
        ax.plot(count, values[quantity].to_numpy(), lw=1.2, color=f"C{i % 10}", label=text(quantity))
    ax.axhline(np.log10(1 / alpha), color="red", lw=1, ls="--", label=f"threshold 1/alpha = {1 / alpha:g}")
    ax.axhline(0, color="0.5", lw=0.8)
    if stopped_at is not None:
        ax.axvline(len(values), color="0.3", lw=0.8, ls=":")
    ax.set(xlabel="replicates ranked", ylabel="log10 e-value (adjusted)")
    ax.legend(fontsize=7, loc="upper left", ncol=2)
    fig.tight_layout()
    return fig


OUTCOME_COLORS = {"clean": "0.6", "flagged": "C1", "failed": "C3"}


def failure_map(truths: pd.DataFrame, dependence: pd.DataFrame | None = None, seed: int = 0):
    """Each quantity's true values, one row per outcome (clean, flagged, failed), with the adjusted
    p-value of ``failures.csv`` in the title: where in parameter space fits fail or are flagged."""
    rng = np.random.default_rng(seed)
    p = dependence.set_index("quantity")["p_adjusted"] if dependence is not None and len(dependence) else {}
    groups = list(truths.groupby("quantity", sort=False))
    fig, axes = _grid(len(groups))
    rows = list(OUTCOME_COLORS)
    for ax, (quantity, group) in zip(axes, groups, strict=False):
        for y, outcome in enumerate(rows):
            values = group.loc[group["outcome"] == outcome, "true_value"]
            ax.scatter(values, y + rng.uniform(-0.2, 0.2, len(values)), s=8, alpha=0.6,
                       color=OUTCOME_COLORS[outcome])
        ax.set_yticks(range(len(rows)), rows, fontsize=8)
        ax.set_ylim(-0.6, len(rows) - 0.4)
        adjusted = p.get(quantity, np.nan) if len(p) else np.nan
        ax.set_title(text(quantity) + ("" if np.isnan(adjusted) else f"  (p adj. {adjusted:.2g})"), fontsize=9)
        ax.set_xlabel("true value", fontsize=8)
    fig.suptitle("True values of clean, flagged and failed replicates", fontsize=10)
    fig.tight_layout()
    return fig


def divergences_vs_truth(truths: pd.DataFrame):
    """Each fit's divergences against each quantity's true value (a funnel's neck shows up as
    divergences at small scale parameters); None when no fit reports divergences."""
    reported = truths.loc[pd.to_numeric(truths["divergences"], errors="coerce").notna()]
    if reported.empty:
        return None
    groups = list(reported.groupby("quantity", sort=False))
    fig, axes = _grid(len(groups))
    for ax, (quantity, group) in zip(axes, groups, strict=False):
        ax.scatter(group["true_value"], group["divergences"], s=8, alpha=0.6,
                   c=[OUTCOME_COLORS[o] for o in group["outcome"]])
        ax.set_title(text(quantity), fontsize=9)
        ax.set_xlabel("true value", fontsize=8)
        ax.set_ylabel("divergences", fontsize=8)
    fig.tight_layout()
    return fig
