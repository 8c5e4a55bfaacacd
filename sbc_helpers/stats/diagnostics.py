"""Per-fit diagnostics: what a fit's own health says about the ranks it produced."""

import arviz_stats
import numpy as np
import xarray as xr


def _first(stats: xr.Dataset, *names: str) -> xr.DataArray | None:
    return next((stats[n] for n in names if n in stats), None)


def fit_diagnostics(idata: xr.DataTree, var_names: list[str], independent: bool = False) -> dict[str, float | int]:
    """Divergences, max-treedepth hits, max R-hat, min bulk/tail ESS and min BFMI of a fit.

    R-hat and ESS judge autocorrelated (MCMC) draws; for independent draws they are left out (NaN).
    """
    posterior = idata["posterior"].to_dataset()[var_names]
    stats = idata["sample_stats"].to_dataset() if "sample_stats" in idata.children else xr.Dataset()
    diverging = _first(stats, "diverging")
    treedepth = _first(stats, "maxdepth_reached", "reached_max_treedepth")
    out: dict[str, float | int] = {
        "divergences": int(diverging.sum()) if diverging is not None else 0,
        "treedepth_hits": int(treedepth.sum()) if treedepth is not None else 0,
        "max_rhat": float(np.nan),
        "min_ess_bulk": float(np.nan),
        "min_ess_tail": float(np.nan),
        "min_bfmi": float(np.nan),
    }
    if not independent and (posterior.sizes.get("chain", 1) > 1 or posterior.sizes.get("draw", 0) > 3):
        out["max_rhat"] = float(arviz_stats.rhat(posterior).to_array().max())
        out["min_ess_bulk"] = float(arviz_stats.ess(posterior, method="bulk").to_array().min())
        out["min_ess_tail"] = float(arviz_stats.ess(posterior, method="tail").to_array().min())
    if "energy" in stats:
        out["min_bfmi"] = float(np.min(arviz_stats.bfmi(stats)["energy"]))
    return out
