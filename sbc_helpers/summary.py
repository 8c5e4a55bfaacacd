"""Summary tables: the per-model numbers the summary notebook and the index page show."""

import html

import numpy as np
import pandas as pd

DIAGNOSTIC_COLUMNS = ["replicate", "status", "divergences", "treedepth_hits", "max_rhat",
                      "min_ess_bulk", "min_ess_tail", "min_bfmi", "seconds", "wall_seconds"]


def verdict(calibration: pd.DataFrame, n_failed: int = 0) -> str:
    """One line: calibrated, or which quantities are not."""
    if calibration.empty:
        return "no completed replicates"
    bad = calibration.loc[~calibration["calibrated"]].sort_values("p_value")
    if bad.empty:
        return f"no evidence of miscalibration in {len(calibration)} quantities"
    worst = ", ".join(bad["quantity"].head(4))
    more = f" and {len(bad) - 4} more" if len(bad) > 4 else ""
    return f"miscalibrated: {worst}{more}"


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
