"""Flags: which fits are suspect by their own diagnostics, against a campaign's thresholds."""

from functools import reduce

import numpy as np
import pandas as pd

from sbc_helpers.contract import DIAGNOSTICS, Diagnostic


def _values(replicates: pd.DataFrame, diagnostic: Diagnostic) -> pd.Series:
    """A diagnostic's values: its column, or the worst of its parts' defined values (NaN when none
    is), as ``contract.worst_of_parts`` records it."""
    column = lambda name, fill: pd.to_numeric(replicates.get(name, fill), errors="coerce")  # noqa: E731
    if not diagnostic.parts:
        return column(diagnostic.field, np.nan)
    worst = np.fmax if diagnostic.direction == "above" else np.fmin  # NaN only where every part is
    return reduce(worst, [column(p, np.nan) for p in diagnostic.parts])


def flag_replicates(replicates: pd.DataFrame, thresholds: dict) -> pd.Series:
    """Why each replicate's fit is suspect ('' when it is not), each ``contract.DIAGNOSTICS`` past its
    threshold by its flag; 'failed' or 'not run' for those without a fit. A missing diagnostic (NaN:
    not computed for independent draws) flags nothing."""
    if replicates.empty:
        return pd.Series(dtype=str)
    reasons = pd.Series("", index=replicates.index)
    for diagnostic in DIAGNOSTICS:
        values = _values(replicates, diagnostic)
        limit = thresholds[diagnostic.field]
        hit = values > limit if diagnostic.direction == "above" else values < limit
        hit = pd.Series(hit, index=replicates.index).fillna(False).astype(bool)
        reasons = reasons.where(~hit, reasons + np.where(reasons == "", "", ", ") + diagnostic.flag)
    status = replicates["status"]
    return reasons.where(status == "ok", status.map({"failed": "failed", "not_run": "not run"}))
