"""Summary tables: the per-model numbers the summary notebook and the index page show."""

import html

import numpy as np
import pandas as pd

from sbc_helpers.calibrate import calibration_table, undetected_coverage

RESOLUTION_UP_TO = 10_000  # above this many replicates the "4x as many" figure takes too long
RENDER_ALL_UP_TO = 500  # larger campaigns render only flagged, failed and worst replicates to HTML
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


def resolution(calibration: pd.DataFrame, max_rank: int) -> str:
    """One line: how large a miscalibration this many replicates are sure to flag, and with 4x as many.

    A "no evidence" verdict at a few hundred replicates can hide a sizeable error; this says how
    sizeable, in the coverage of central 50% intervals (``calibrate.undetected_coverage``)."""
    n, m = int(calibration["n_replicates"].min()) if len(calibration) else 0, len(calibration)
    if n < 2 or max_rank < 3:
        return ""
    nominal, low, high = undetected_coverage(n, max_rank, m)
    line = (f"With {n} replicates and {m} quantities, a quantity is sure to be flagged once its central "
            f"{nominal:.0%} intervals cover under {low:.0%} or over {high:.0%} of true values; a milder "
            f"miscalibration may pass.")
    if 4 * n <= RESOLUTION_UP_TO:
        _, low4, high4 = undetected_coverage(4 * n, max_rank, m)
        line += f" With {4 * n} replicates: under {low4:.0%} or over {high4:.0%}."
    return line


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
    failing = set(everything.loc[~everything["calibrated"], "quantity"])
    return {
        "n_flagged": len(flagged),
        "verdict_all": verdict(everything),
        "verdict_unflagged": verdict(without) if not kept.empty else "no unflagged replicates",
        # None: cannot be checked, every replicate is flagged
        "changed": None if kept.empty else failing != set(without.loc[~without["calibrated"], "quantity"]),
    }


SORT_SCRIPT = """<script>
document.querySelectorAll("table.sortable th").forEach((th, col) => th.addEventListener("click", () => {
  const body = th.closest("table").tBodies[0], rows = Array.from(body.rows);
  const dir = th.dataset.dir === "asc" ? -1 : 1; th.dataset.dir = dir === 1 ? "asc" : "desc";
  const key = r => { const t = r.cells[col].innerText.trim(), n = parseFloat(t); return isNaN(n) ? t : n; };
  rows.sort((a, b) => (key(a) > key(b) ? 1 : key(a) < key(b) ? -1 : 0) * dir).forEach(r => body.appendChild(r));
}));
</script>"""


def _replicate_link(replicate, link_dir: str, page: str = "html") -> str:
    stem = f"{int(replicate):04d}"
    return f'<a href="{link_dir}/{stem}.{page}">{stem}</a>'


def _cell(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return f'<td class="{"ok" if value else "bad"}">{"yes" if value else "NO"}</td>'
    if isinstance(value, (float, np.floating)):
        return f"<td>{'' if np.isnan(value) else f'{value:.3g}'}</td>"
    return f"<td>{html.escape('' if value is None else str(value))}</td>"


def calibration_table_html(calibration: pd.DataFrame, link_dir: str = "replicates") -> str:
    """The verdict table, least calibrated first: tests, reading in words, link to the worst replicate."""
    if calibration.empty:
        return "<p>No completed replicates.</p>"
    columns = ["quantity", "calibrated", "reading", "p_adjusted", "gamma_p_value", "p_value",
               "chi2_p_value", "log_gamma_ratio", "n_replicates", "worst_replicate"]
    columns = [c for c in columns if c in calibration]
    rows = []
    for _, row in calibration.sort_values("p_adjusted").iterrows():
        cells = [(f"<td>{_replicate_link(row[c], link_dir)}</td>" if c == "worst_replicate" else _cell(row[c]))
                 for c in columns]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    return (f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
            + SORT_SCRIPT)


def replicate_table_html(replicates: pd.DataFrame, link_dir: str = "replicates") -> str:
    """The per-replicate diagnostics as an HTML table whose replicate cells link to the notebooks."""
    if replicates.empty:
        return "<p>No replicates yet.</p>"
    columns = [c for c in DIAGNOSTIC_COLUMNS if c in replicates] + [
        c for c in ("error", "message") if c in replicates and replicates[c].notna().any()
    ]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    render_all = len(replicates) <= RENDER_ALL_UP_TO
    rows = []
    for _, row in replicates.iterrows():
        page = "html" if render_all or row.get("flags") else "ipynb"  # large campaigns render flagged only
        cells = [(f"<td>{_replicate_link(row['replicate'], link_dir, page)}</td>" if c == "replicate" else _cell(row[c]))
                 for c in columns]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
            + SORT_SCRIPT)

