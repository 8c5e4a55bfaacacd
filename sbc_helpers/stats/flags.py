"""Flags: which fits are suspect by their own diagnostics, against a campaign's thresholds."""

import numpy as np
import pandas as pd


def flag_replicates(replicates: pd.DataFrame, thresholds: dict) -> pd.Series:
    """Why each replicate's fit is suspect ('' when it is not); 'failed' or 'not run' for those
    without a fit. A missing diagnostic (NaN: not computed for independent draws) flags nothing."""
    if replicates.empty:
        return pd.Series(dtype=str)
    col = lambda name, fill: pd.to_numeric(replicates.get(name, fill), errors="coerce")  # noqa: E731
    checks = [
        ("divergences", col("divergences", 0) > thresholds["divergences"]),
        ("treedepth", col("treedepth_hits", 0) > thresholds["treedepth_hits"]),
        ("rhat", col("max_rhat", np.nan) > thresholds["max_rhat"]),
        ("ess", np.minimum(col("min_ess_bulk", np.inf), col("min_ess_tail", np.inf)) < thresholds["min_ess"]),
        ("bfmi", col("min_bfmi", np.nan) < thresholds["min_bfmi"]),
    ]
    reasons = pd.Series("", index=replicates.index)
    for name, hit in checks:
        hit = pd.Series(hit, index=replicates.index).fillna(False).astype(bool)
        reasons = reasons.where(~hit, reasons + np.where(reasons == "", "", ", ") + name)
    status = replicates["status"]
    return reasons.where(status == "ok", status.map({"failed": "failed", "not_run": "not run"}))
