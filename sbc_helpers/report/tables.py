"""HTML for the report's tables and verdict. Every value a user named (model, quantity,
coordinate label, error message) is escaped here; nothing reaches a page as Markdown."""

import html
import re

import numpy as np
import pandas as pd

from sbc_helpers.contract import CALIBRATION_PAGE, DIAGNOSTICS, REPLICATES_DIR, replicate_href, replicate_stem
from sbc_helpers.report.analysis import failure_order, worst_first

RENDER_ALL_UP_TO = 500  # larger campaigns render only flagged, failed and worst replicates to HTML
DIAGNOSTIC_COLUMNS = ["replicate", "status", "flags", *(d.field for d in DIAGNOSTICS), "seconds", "wall_seconds"]

# a page may carry the script once per table: each heading is bound once, and sorts its own column
SORT_SCRIPT = """<script>
// Click a column heading to sort its table (numbers numerically); no remote code.
document.querySelectorAll("table.sortable th:not([data-bound])").forEach(th => {
  th.dataset.bound = "1";
  th.addEventListener("click", () => {
    const col = th.cellIndex, body = th.closest("table").tBodies[0], rows = Array.from(body.rows);
    const dir = th.dataset.dir === "asc" ? -1 : 1; th.dataset.dir = dir === 1 ? "asc" : "desc";
    const key = r => { const t = r.cells[col].innerText.trim(), n = parseFloat(t); return isNaN(n) ? t : n; };
    rows.sort((a, b) => (key(a) > key(b) ? 1 : key(a) < key(b) ? -1 : 0) * dir).forEach(r => body.appendChild(r));
  });
});
</script>"""

esc = html.escape


def rendered_replicates(replicates: pd.DataFrame, calibration: pd.DataFrame) -> set[int]:
    """Replicates whose notebooks get an HTML page: all of them up to ``RENDER_ALL_UP_TO``, else the
    flagged, failed and worst ones, so a large campaign's folder stays small."""
    if replicates.empty:
        return set()
    ran = replicates.loc[replicates["status"] != "not_run"]
    if len(replicates) <= RENDER_ALL_UP_TO:
        return set(ran["replicate"].astype(int))
    flagged = ran.loc[ran["flags"].fillna("") != "", "replicate"]
    worst = calibration["worst_replicate"].dropna() if "worst_replicate" in calibration else []
    return {int(r) for r in flagged} | {int(r) for r in worst}


def link(replicate, rendered: set[int], prefix: str = REPLICATES_DIR) -> str:
    """A link to a replicate's page when it has one, else to its notebook."""
    kind = "page" if int(replicate) in rendered else "notebook"
    return f'<a href="{esc(replicate_href(int(replicate), kind, prefix))}">{replicate_stem(int(replicate))}</a>'


def cell(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return f'<td class="{"ok" if value else "bad"}">{"yes" if value else "NO"}</td>'
    if isinstance(value, (float, np.floating)):
        return f"<td>{'' if np.isnan(value) else f'{value:.3g}'}</td>"
    return f"<td>{esc('' if value is None else str(value))}</td>"


def _table(columns: list[str], rows: list[str]) -> str:
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    return f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _percent(alpha: float) -> str:
    return f"{100 * alpha:.3g}%"


def stopped_by_data(verdict: dict) -> bool:
    """A sequential unit stopped because its e-process flagged a quantity: a stop the ranks chose."""
    return bool(verdict.get("sequential")) and verdict["sequential"]["reason"] == "flagged"


def levels(verdict: dict) -> str:
    """The campaign's levels in a few words: the fixed-N test's, and the e-process's in a sequential one."""
    fixed = f"{_percent(verdict['alpha'])} level"
    if not verdict.get("sequential"):
        return fixed
    sequential = _percent(verdict["sequential"]["alpha_sequential"])
    return f"the fixed-N test at the {fixed}, the e-process at the other {sequential}"


def level_line(verdict: dict) -> str:
    """The level the calibration table's marks are decided at, and in a sequential campaign the
    e-process's share; after a stop the data chose, the marks are descriptive."""
    fixed = _percent(verdict["alpha"])
    if not verdict.get("sequential"):
        return f"calibrated: the gamma test, Holm-adjusted across the quantities, at the {fixed} level."
    sequential = verdict["sequential"]
    line = (f"calibrated: the fixed-N gamma test, Holm-adjusted across the quantities, at the {fixed} level; "
            f"the other {_percent(sequential['alpha_sequential'])} of the campaign's "
            f"{_percent(verdict['alpha'] + sequential['alpha_sequential'])} goes to the e-process.")
    if stopped_by_data(verdict):
        line += (" The e-process stopped this unit when it flagged a quantity, a stop the data chose: the marks "
                 "read the replicates up to it and are descriptive, without the guarantee of that level.")
    return line


def calibration_table_html(calibration: pd.DataFrame, rendered: set[int], verdict: dict | None = None) -> str:
    """The verdict table, least calibrated first: tests, reading in words, link to the worst replicate;
    given the ``verdict``, the level its marks are decided at above it (``level_line``)."""
    if calibration.empty:
        return "<p>No completed replicates.</p>"
    columns = [c.name for c in CALIBRATION_PAGE if c.name in calibration]
    rows = []
    for _, row in worst_first(calibration).iterrows():
        cells = [(f"<td>{link(row[c], rendered)}</td>" if c == "worst_replicate" else cell(row[c]))
                 for c in columns]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    descriptive = verdict is not None and stopped_by_data(verdict)
    headers = ["calibrated (descriptive)" if c == "calibrated" and descriptive else c for c in columns]
    caption = f"<p>{esc(level_line(verdict))}</p>" if verdict is not None else ""
    return caption + _table(headers, rows) + calibration_legend() + SORT_SCRIPT


def calibration_legend() -> str:
    """What each column of the calibration table says (``contract.CALIBRATION``)."""
    code = lambda text: re.sub(r"`([^`]*)`", r"<code>\1</code>", esc(text))  # noqa: E731
    items = "".join(f"<li>{code(f'`{c.name}`: {c.meaning}')}</li>" for c in CALIBRATION_PAGE)
    return f'<ul class="legend">{items}</ul>'


def replicate_table_html(replicates: pd.DataFrame, rendered: set[int]) -> str:
    """The per-replicate diagnostics; replicate cells link to the notebooks."""
    if replicates.empty:
        return "<p>No replicates yet.</p>"
    columns = [c for c in DIAGNOSTIC_COLUMNS if c in replicates] + [
        c for c in ("error", "message") if c in replicates and replicates[c].notna().any()]
    rows = []
    for _, row in replicates.iterrows():
        cells = [(f"<td>{link(row['replicate'], rendered)}</td>" if c == "replicate" else cell(row[c]))
                 for c in columns]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return _table(columns, rows) + SORT_SCRIPT


def failures_html(failures: list[dict], rendered: set[int], prefix: str = REPLICATES_DIR) -> str:
    """Failures grouped by message: count, message, the first failing replicate's notebook."""
    if not failures:
        return ""
    rows = [f"<tr><td>{int(f['count'])}</td><td>{esc(str(f['error']))}</td><td>{esc(str(f['message']))}</td>"
            f"<td>{link(f['first_replicate'], rendered, prefix)}</td></tr>" for f in failures]
    return _table(["failed", "error", "message", "first failing replicate"], rows)


def reference_line(reference: dict | None) -> str:
    """The reference posterior's size against the campaign's, as HTML (empty when unknown)."""
    if not reference:
        return ""
    return (f'Reference posterior: ESS {reference["ess"]:.0f} ({reference["ratio"]:.1f} per replicate) from '
            f'{reference["fitted_draws"]} draws in {reference["fits"]} fit(s); each replicate takes its own true '
            "values from its close-to-independent draws, none used twice.<br>")


def verdict_html(verdict: dict) -> str:
    """The verdict, counts, resolution and the flagged-fit check, as escaped HTML."""
    css = "ok" if verdict["calibrated"] else "bad"
    lines = [f'<p><b>Verdict:</b> <span class="{css}">{esc(verdict["verdict"])}</span><br>',
             *([f'Posterior SBC conditional on {esc(verdict["conditional_on"])}: true values drawn from the '
                "reference posterior of these data, each fit to them plus data simulated from those values.<br>"
                + reference_line(verdict.get("reference"))]
               if verdict.get("conditional_on") else []),
             f'{verdict["done"]} of {verdict["replicates"]} replicates completed, {verdict["failed"]} failed'
             + (f', {verdict["not_run"]} not run' if verdict["not_run"] else "") + ".<br>"]
    if verdict.get("sequential"):
        sequential = verdict["sequential"]
        lines.append(f'Sequential: {esc(sequential["line"])}.')
        if sequential["kept_after_stop"]:
            lines.append(f' {sequential["kept_after_stop"]} replicates that finished after the stop are kept on '
                         "disk and left out.")
        lines.append("<br>")
    if verdict.get("resolution"):
        lines.append(f'{esc(verdict["resolution"])}<br>')
    if verdict.get("constant"):
        lines.append(f'Not tested, the same true value in every replicate: {esc(", ".join(verdict["constant"]))}.<br>')
    if verdict.get("methods"):
        lines.append(f'Methods on this model, same data sets: {esc(verdict["methods"])}<br>')
    if verdict.get("stopped"):
        lines.append(f'<span class="bad">This unit was {esc(verdict["stopped"])}</span><br>')
    check = verdict.get("sensitivity")
    if check:
        lines.append(f'{check["n_flagged"]} completed replicates have flagged fits. Without them: '
                     f'{esc(check["verdict_unflagged"])}. ')
        lines.append("Leaving them out cannot be checked: every replicate is flagged." if check["changed"] is None
                     else f'<b>The verdict {"changes" if check["changed"] else "does not change"}</b> '
                          "when they are left out.")
    return "".join(lines) + "</p>"



def dependence_html(dependence: pd.DataFrame) -> str:
    """``failures.csv`` as a sortable table in ``failure_order``."""
    if dependence.empty:
        return ""
    ordered = failure_order(dependence)
    ordered = ordered.assign(depends=ordered["depends"].astype(bool).map({True: "yes", False: ""}))
    rows = [f"<tr>{''.join(cell(v) for v in row)}</tr>" for row in ordered.itertuples(index=False)]
    return _table(list(ordered.columns), rows) + SORT_SCRIPT
