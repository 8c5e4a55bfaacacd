"""Per-fit diagnostics: what a fit's own health says about the ranks it produced."""

import numpy as np
import xarray as xr
from arviz_base import rcParams
from arviz_stats.base import array_stats

from sbc_helpers.contract import MEASURED
from sbc_helpers.stats import mcmc
from sbc_helpers.stats.ranks import scalar_quantities


def _first(stats: xr.Dataset, *names: str) -> xr.DataArray | None:
    return next((stats[n] for n in names if n in stats), None)


def _extreme(values: np.ndarray, pick) -> float:
    """``pick`` (np.max, np.min) over the defined values: a constant quantity (a correlation
    matrix's diagonal) has no R-hat, as ArviZ's own summaries skip it."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    return float(pick(values)) if values.size else float(np.nan)


def scalar_draws(posterior: xr.Dataset, var_names: list[str]) -> tuple[list[str], np.ndarray]:
    """The scalar elements of ``var_names`` (labelled like the ranks) as one array of shape
    (scalars, chain, draw): ArviZ's array functions then take every scalar in one call, without a
    Dataset built and aligned per variable."""
    scalars = scalar_quantities(posterior, var_names)
    return list(scalars), np.stack([np.asarray(v, dtype=float) for v in scalars.values()])


def fit_diagnostics(idata: xr.DataTree, var_names: list[str], independent: bool = False) -> dict[str, float | int]:
    """Divergences, max-treedepth hits, max R-hat, min bulk/tail ESS and min BFMI of a fit: the
    fields ``contract.MEASURED`` names (a new diagnostic is declared in ``contract.DIAGNOSTICS``).

    R-hat and ESS judge autocorrelated (MCMC) draws; for independent draws they are left out (NaN).
    They are ArviZ's estimators (rank-normalised R-hat, bulk and tail ESS), computed on all the
    stacked scalars at once (``mcmc``).
    """
    posterior = idata["posterior"].to_dataset()
    stats = idata["sample_stats"].to_dataset() if "sample_stats" in idata.children else xr.Dataset()
    diverging = _first(stats, "diverging")
    treedepth = _first(stats, "maxdepth_reached", "reached_max_treedepth")
    out: dict[str, float | int] = dict.fromkeys(MEASURED, float(np.nan))
    out["divergences"] = int(diverging.sum()) if diverging is not None else 0
    out["treedepth_hits"] = int(treedepth.sum()) if treedepth is not None else 0
    if var_names and not independent and (posterior.sizes.get("chain", 1) > 1 or posterior.sizes.get("draw", 0) > 3):
        _, draws = scalar_draws(posterior, var_names)
        out["max_rhat"] = _extreme(mcmc.rhat(draws), np.max)
        out["min_ess_bulk"] = _extreme(mcmc.ess_bulk(draws), np.min)
        # ArviZ's default tail: the quantiles of its default interval (ci_prob)
        out["min_ess_tail"] = _extreme(mcmc.ess_tail(draws, rcParams["stats.ci_prob"]), np.min)
    if "energy" in stats:
        energy = stats["energy"].transpose("chain", "draw").to_numpy()
        out["min_bfmi"] = float(np.min(array_stats.bfmi(energy)))
    return out
