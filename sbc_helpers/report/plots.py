"""Plots of a campaign: draw figures of numbers computed in ``stats``.

A figure shows at most ``SHOWN`` panels, whatever the model's size: the least calibrated quantities
(or the variables that hold them) first, in the order the caller gives, usually the calibration
table's (``analysis.worst_first``). ``ecdf_elements`` shows every element of each vector variable
in one panel, so nothing is left unseen; the tables on the page hold the rest.
"""

import arviz_plots as azp
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr

from sbc_helpers.report import analysis
from sbc_helpers.report.figures import text
from sbc_helpers.stats.calibrate import pit_values
from sbc_helpers.stats.plot_data import default_bins, ecdf_band, histogram_band, rank_histogram
from sbc_helpers.stats.plot_data import ecdf_difference as ecdf_difference_values

SHOWN = 16  # panels per figure at most: a figure of hundreds of panels is unreadable and slow to draw


def chosen(frame: pd.DataFrame, column: str, order: list[str] | None = None, n: int = SHOWN) -> list[str]:
    """The first ``n`` values of ``column`` by ``order`` (those present in ``frame``), else as they
    come in ``frame``."""
    present = pd.unique(frame[column])
    if order is None:
        return list(present[:n])
    present = set(present)
    return [v for v in dict.fromkeys(order) if v in present][:n]


def shown_note(total: int, what: str = "quantities", n: int = SHOWN) -> str:
    """A line for a page when a figure shows only the first ``n`` of ``total``."""
    return (f"Shown: the first {n} of {total} {what}, least calibrated first; the table lists them all."
            if total > n else "")


def _grid(n: int, ncols: int = 4):
    nrows = max(1, int(np.ceil(n / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.4 * nrows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes.flat


def rank_histograms(ranks: pd.DataFrame, order: list[str] | None = None, level: float = 0.99):
    """A rank histogram of each of the first ``SHOWN`` quantities by ``order``, with the ``level``
    binomial band of a uniform bin count."""
    names = chosen(ranks, "quantity", order)
    by_name = dict(list(ranks.loc[ranks["quantity"].isin(names)].groupby("quantity", sort=False)))
    groups = [(q, by_name[q]) for q in names]
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


def _pits(ranks: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """The ranks sorted by quantity and replicate with their PIT values, drawn as the calibration
    table draws them (``plot_data.pit_dataset``), so a figure's p-value is the table's."""
    frame = ranks.sort_values(["quantity", "replicate"])
    return frame.assign(pit=pit_values(frame, seed))


def ecdf_difference(ranks: pd.DataFrame, order: list[str] | None = None, band_prob: float = 0.99, seed: int = 0):
    """ECDF differences of PIT values with a simultaneous band, one panel for each of the first
    ``SHOWN`` quantities by ``order``.

    ``arviz_plots.plot_ecdf_pit`` draws the curves, its pot_c p-value and suspicious points; the
    band (``plot_data.ecdf_band``) is shaded behind them (arviz-plots' own envelope method
    fails with NumPy 2.5).
    """
    names = chosen(ranks, "quantity", order)
    frame = _pits(ranks, seed)
    by_name = {q: g["pit"].to_numpy()[None, :] for q, g in frame.loc[frame["quantity"].isin(names)].groupby(
        "quantity", sort=False)}
    pit = xr.Dataset({q: (("chain", "draw"), by_name[q]) for q in names})
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


def ecdf_elements(ranks: pd.DataFrame, calibration: pd.DataFrame, band_prob: float = 0.99, seed: int = 0):
    """Every element of each vector variable (the first ``SHOWN`` by ``calibration``'s row order,
    the calibration table's): their ECDF differences overlaid in one panel, those the verdict flags in red; None when
    no variable has more than one element.

    The band is a single curve's: among many calibrated elements a few are expected to touch it."""
    from matplotlib.collections import LineCollection

    sizes = calibration.groupby("variable", sort=False)["quantity"].size()
    names = [v for v in chosen(calibration, "variable", n=len(sizes)) if sizes[v] > 1][:SHOWN]
    if not names:
        return None
    flagged = set(calibration.loc[~calibration["calibrated"].astype(bool), "quantity"])
    frame = _pits(ranks, seed)
    frame = frame.loc[frame["variable"].isin(names)]
    grid = np.linspace(0, 1, 101)
    fig, axes = _grid(len(names))
    groups = dict(list(frame.groupby("variable", sort=False)))
    for ax, variable in zip(axes, names, strict=False):
        curves = {q: ecdf_difference_values(g["pit"].to_numpy(), grid) for q, g in groups[variable].groupby(
            "quantity", sort=False)}
        x, lower, upper = ecdf_band(int(calibration.loc[calibration["variable"] == variable, "n_replicates"].min()),
                                    band_prob)
        ax.fill_between(x, lower, upper, step="post", color="0.88", lw=0)
        ax.axhline(0, color="0.5", lw=0.8)
        bad = [q for q in curves if q in flagged]
        good = [np.column_stack([grid, c]) for q, c in curves.items() if q not in flagged]
        ax.add_collection(LineCollection(good, colors="C0", linewidths=0.6, alpha=min(0.6, 8 / len(curves) + 0.1)))
        for q in bad[:SHOWN]:
            ax.step(grid, curves[q], where="post", color="C3", lw=1.2)
        ax.autoscale_view()
        ax.set_title(f"{text(variable)}: {len(curves)} elements, {len(bad)} flagged", fontsize=9)
        ax.tick_params(labelsize=7)
    fig.suptitle(f"ECDF differences of every element ({band_prob:.0%} band of one curve; flagged in red)",
                 fontsize=10)
    fig.tight_layout()
    return fig


def _by_variable(frame: pd.DataFrame, order: list[str] | None) -> list[tuple[str, pd.DataFrame]]:
    """The rows of each of the first ``SHOWN`` variables by ``order``, all its elements pooled."""
    names = chosen(frame, "variable", order)
    by_name = dict(list(frame.loc[frame["variable"].isin(names)].groupby("variable", sort=False)))
    return [(v, by_name[v]) for v in names]


def _points(ax, x, y) -> None:
    """Many points, fast: a line's markers, rasterized."""
    ax.plot(x, y, ls="none", marker="o", ms=2, mew=0, alpha=0.5, color="C0", rasterized=True)


def _variable_panels(frame: pd.DataFrame, order: list[str] | None, xlabel: str, ylabel: str, draw):
    """One panel per variable (the first ``SHOWN`` by ``order``), ``draw(ax, rows)`` filling each."""
    groups = _by_variable(frame, order)
    fig, axes = _grid(len(groups))
    for ax, (variable, group) in zip(axes, groups, strict=False):
        draw(ax, group)
        ax.set_title(text(variable), fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
    fig.tight_layout()
    return fig


def true_vs_mean(ranks: pd.DataFrame, order: list[str] | None = None):
    """Posterior mean against the true value, one panel per variable (the first ``SHOWN`` by
    ``order``, variable names); the diagonal is perfect recovery."""
    def draw(ax, group):
        _points(ax, group["true_value"], group["post_mean"])
        low = min(group["true_value"].min(), group["post_mean"].min())
        high = max(group["true_value"].max(), group["post_mean"].max())
        ax.plot([low, high], [low, high], color="0.5", lw=1)

    return _variable_panels(ranks, order, "true", "posterior mean", draw)


def zscore_vs_contraction(table: pd.DataFrame, order: list[str] | None = None):
    """Posterior z-score against posterior contraction (``plot_data.zscore_contraction``), one
    panel per variable (the first ``SHOWN`` by ``order``)."""
    def draw(ax, group):
        _points(ax, group["contraction"], group["zscore"])
        ax.axhline(0, color="0.5", lw=1)
        ax.set_xlim(min(0, group["contraction"].min()), 1)

    return _variable_panels(table, order, "contraction", "z-score", draw)


def coverage(table: pd.DataFrame, order: list[str] | None = None):
    """Observed coverage of central intervals against their width (``plot_data.coverage``), one
    panel per variable (the first ``SHOWN`` by ``order``)."""
    def draw(ax, group):
        ax.fill_between(group["width"], group["lower"] - group["width"], group["upper"] - group["width"],
                        color="0.85", lw=0)
        ax.plot(group["width"], group["coverage"] - group["width"], color="C0")
        ax.axhline(0, color="0.5", lw=1)

    return _variable_panels(table, order, "interval width", "coverage - width", draw)


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


def _failure_order(dependence: pd.DataFrame | None) -> list[str] | None:
    return analysis.failure_order(dependence)["quantity"].tolist() if dependence is not None and len(dependence) else None


def failure_map(truths: pd.DataFrame, dependence: pd.DataFrame | None = None, seed: int = 0):
    """The true values of the first ``SHOWN`` quantities by ``analysis.failure_order``, one row per outcome
    (clean, flagged, failed), with the adjusted p-value of ``failures.csv`` in the title: where in
    parameter space fits fail or are flagged."""
    rng = np.random.default_rng(seed)
    p = dependence.set_index("quantity")["p_adjusted"] if dependence is not None and len(dependence) else {}
    names = chosen(truths, "quantity", _failure_order(dependence))
    by_name = dict(list(truths.loc[truths["quantity"].isin(names)].groupby("quantity", sort=False)))
    groups = [(q, by_name[q]) for q in names]
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


def divergences_vs_truth(truths: pd.DataFrame, dependence: pd.DataFrame | None = None):
    """Each fit's divergences against the true value of each of the first ``SHOWN`` quantities by
    ``failure_order`` (a funnel's neck shows up as divergences at small scale parameters); None
    when no fit reports divergences."""
    reported = truths.loc[pd.to_numeric(truths["divergences"], errors="coerce").notna()]
    if reported.empty:
        return None
    names = chosen(reported, "quantity", _failure_order(dependence))
    by_name = dict(list(reported.loc[reported["quantity"].isin(names)].groupby("quantity", sort=False)))
    groups = [(q, by_name[q]) for q in names]
    fig, axes = _grid(len(groups))
    for ax, (quantity, group) in zip(axes, groups, strict=False):
        ax.scatter(group["true_value"], group["divergences"], s=8, alpha=0.6,
                   c=[OUTCOME_COLORS[o] for o in group["outcome"]])
        ax.set_title(text(quantity), fontsize=9)
        ax.set_xlabel("true value", fontsize=8)
        ax.set_ylabel("divergences", fontsize=8)
    fig.tight_layout()
    return fig
