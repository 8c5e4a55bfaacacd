"""Summary tables: the per-model numbers the summary notebook and the index page show."""

import html

import numpy as np
import pandas as pd

from sbc_helpers.calibrate import calibration_table

DIAGNOSTIC_COLUMNS = ["replicate", "status", "flags", "divergences", "treedepth_hits", "max_rhat",
                      "min_ess_bulk", "min_ess_tail", "min_bfmi", "seconds", "wall_seconds"]


def verdict(calibration: pd.DataFrame) -> str:
    """One line: calibrated, or which quantities are not."""
    if calibration.empty:
        return "no completed replicates"
    bad = calibration.loc[~calibration["calibrated"]].sort_values("p_adjusted")
    if bad.empty:
        return f"no evidence of miscalibration in {len(calibration)} quantities"
    worst = ", ".join(bad["quantity"].head(4))
    more = f" and {len(bad) - 4} more" if len(bad) > 4 else ""
    return f"miscalibrated: {worst}{more}"


def flag_replicates(replicates: pd.DataFrame, thresholds: dict) -> pd.Series:
    """Why each replicate's fit is suspect against ``thresholds`` ('' when it is not), or 'failed'."""
    if replicates.empty:
        return pd.Series(dtype=str)
    checks = [
        ("divergences", lambda t: replicates.get("divergences", 0) > t["divergences"]),
        ("treedepth", lambda t: replicates.get("treedepth_hits", 0) > t["treedepth_hits"]),
        ("rhat", lambda t: replicates.get("max_rhat", np.nan) > t["max_rhat"]),
        ("ess", lambda t: np.minimum(replicates.get("min_ess_bulk", np.inf),
                                     replicates.get("min_ess_tail", np.inf)) < t["min_ess"]),
        ("bfmi", lambda t: replicates.get("min_bfmi", np.nan) < t["min_bfmi"]),
    ]
    reasons = pd.Series("", index=replicates.index)
    for name, check in checks:
        hit = pd.Series(check(thresholds), index=replicates.index).fillna(False).astype(bool)
        reasons = reasons.where(~hit, reasons + np.where(reasons == "", "", ", ") + name)
    return reasons.where(replicates["status"] == "ok", "failed")


def sensitivity(ranks: pd.DataFrame, replicates: pd.DataFrame) -> dict:
    """Does leaving out the flagged replicates change the verdict? (``replicates`` has ``flags``.)"""
    flagged = set(replicates.loc[replicates["flags"] != "", "replicate"])
    kept = ranks.loc[~ranks["replicate"].isin(flagged)]
    everything, without = calibration_table(ranks), calibration_table(kept)
    return {
        "n_flagged": len(flagged),
        "verdict_all": verdict(everything),
        "verdict_unflagged": verdict(without) if not kept.empty else "no unflagged replicates",
        "changed": set(everything.loc[~everything["calibrated"], "quantity"])
        != set(without.loc[~without["calibrated"], "quantity"]) if not kept.empty else bool(flagged),
    }


def replicate_table_html(replicates: pd.DataFrame, link_dir: str = "replicates") -> str:
    """The per-replicate diagnostics as an HTML table whose replicate cells link to the notebooks."""
    if replicates.empty:
        return "<p>No replicates yet.</p>"
    columns = [c for c in DIAGNOSTIC_COLUMNS if c in replicates] + [
        c for c in ("error", "message") if c in replicates and replicates[c].notna().any()
    ]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    rows = []
    for _, row in replicates.iterrows():
        stem = f"{int(row['replicate']):04d}"
        cells = []
        for c in columns:
            value = row[c]
            if c == "replicate":
                cells.append(f'<td><a href="{link_dir}/{stem}.html">{stem}</a></td>')
            elif isinstance(value, float):
                cells.append(f"<td>{'' if np.isnan(value) else f'{value:.3g}'}</td>")
            else:
                cells.append(f"<td>{html.escape('' if value is None else str(value))}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f'<table class="sbc-replicates"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
