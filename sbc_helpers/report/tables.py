"""HTML for the report's tables and verdict, from the jinja2 templates in ``templates/``, which
escape every value (model, quantity, coordinate label, error message): nothing a user named reaches
a page as markup, and nothing reaches one as Markdown."""

import functools
from dataclasses import dataclass

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup

from sbc_helpers.contract import CALIBRATION_PAGE, DIAGNOSTICS, REPLICATES_DIR, replicate_href, replicate_stem
from sbc_helpers.report.analysis import failure_order, worst_first

RENDER_ALL_UP_TO = 500  # larger campaigns render only flagged, failed and worst replicates to HTML
DIAGNOSTIC_COLUMNS = ["replicate", "status", "flags", *(d.field for d in DIAGNOSTICS), "seconds", "wall_seconds"]


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("sbc_helpers.report", "templates"), autoescape=True,
                              trim_blocks=True, lstrip_blocks=True, undefined=jinja2.ChainableUndefined)


def render(template: str, **context) -> str:
    """A template of ``templates/`` rendered, every value escaped (pass ``Markup`` for HTML made here)."""
    return str(_environment().get_template(template).render(**context))


@dataclass(frozen=True)
class Cell:
    """A table cell: its text, and optionally a class (``ok``, ``bad``) and a link."""

    text: str
    css: str = ""
    href: str = ""


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


def link(replicate, rendered: set[int], prefix: str = REPLICATES_DIR) -> Cell:
    """A link to a replicate's page when it has one, else to its notebook."""
    kind = "page" if int(replicate) in rendered else "notebook"
    return Cell(replicate_stem(int(replicate)), href=replicate_href(int(replicate), kind, prefix))


def cell(value) -> Cell:
    """A value as a cell: yes/NO for a mark, three significant digits for a number."""
    if isinstance(value, (bool, np.bool_)):
        return Cell("yes" if value else "NO", css="ok" if value else "bad")
    if isinstance(value, (float, np.floating)):
        return Cell("" if np.isnan(value) else f"{value:.3g}")
    return Cell("" if value is None else str(value))


def table(headers: list[str], rows: list[list[Cell]], sortable: bool = True, **context) -> str:
    """A table of cells (``caption`` above it, a ``legend`` of (name, meaning) below it)."""
    return render("table.html.j2", headers=headers, rows=rows, sortable=sortable, **context)


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
        return render("table.html.j2", caption="No completed replicates.")
    columns = [c for c in CALIBRATION_PAGE if c.name in calibration]
    rows = [[link(row[c.name], rendered) if c.name == "worst_replicate" else cell(row[c.name]) for c in columns]
            for _, row in worst_first(calibration).iterrows()]
    descriptive = verdict is not None and stopped_by_data(verdict)
    headers = ["calibrated (descriptive)" if c.name == "calibrated" and descriptive else c.name for c in columns]
    return table(headers, rows, caption=level_line(verdict) if verdict is not None else "",
                 legend=[(c.name, c.meaning) for c in columns])


def replicate_table_html(replicates: pd.DataFrame, rendered: set[int]) -> str:
    """The per-replicate diagnostics; replicate cells link to the notebooks."""
    if replicates.empty:
        return render("table.html.j2", caption="No replicates yet.")
    columns = [c for c in DIAGNOSTIC_COLUMNS if c in replicates] + [
        c for c in ("error", "message") if c in replicates and replicates[c].notna().any()]
    rows = [[link(row["replicate"], rendered) if c == "replicate" else cell(row[c]) for c in columns]
            for row in replicates[columns].to_dict("records")]
    return table(columns, rows)


def failures_html(failures: list[dict], rendered: set[int], prefix: str = REPLICATES_DIR) -> str:
    """Failures grouped by message: count, message, the first failing replicate's notebook."""
    if not failures:
        return ""
    rows = [[Cell(str(int(f["count"]))), Cell(str(f["error"])), Cell(str(f["message"])),
             link(f["first_replicate"], rendered, prefix)] for f in failures]
    return table(["failed", "error", "message", "first failing replicate"], rows, sortable=False)


def reference_line(reference: dict | None) -> str:
    """The reference posterior's size against the campaign's, as HTML (empty when unknown)."""
    return render("reference.html.j2", reference=reference)


def verdict_html(verdict: dict) -> str:
    """The verdict, counts, resolution and the flagged-fit check, as HTML."""
    return render("verdict.html.j2", v=verdict)


def dependence_html(dependence: pd.DataFrame) -> str:
    """``failures.csv`` as a sortable table in ``failure_order``."""
    if dependence.empty:
        return ""
    ordered = failure_order(dependence)
    ordered = ordered.assign(depends=ordered["depends"].astype(bool).map({True: "yes", False: ""}))
    return table(list(ordered.columns), [[cell(v) for v in row] for row in ordered.itertuples(index=False)])


def methods_html(sections: list[tuple[str, str, list[list[Cell]]]]) -> Markup:
    """The methods compared on the index page: per model, its sentence and its methods' rows."""
    return Markup(render("methods.html.j2", sections=sections))
