"""Build a campaign's report in one pass: gather and analyse each unit once (``analysis``), render
its summary notebook and the replicate pages it links to, then the index page.

A step that fails never costs the run or the other units: the unit's tables are written before its
pages, the traceback goes to the log (``sbc.log``) and, once the rest is built, ``ReportError``
names each failed step in one line."""

import io
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from sbc_helpers.contract import CAMPAIGN_FILES, UNIT_FILES
from sbc_helpers.errors import ReportError, one_line
from sbc_helpers.report import analysis, pages, plots
from sbc_helpers.report.tables import rendered_replicates
from sbc_helpers.run import store
from sbc_helpers.run.kernels import WarmKernel
from sbc_helpers.run.params import Campaign, campaign_from
from sbc_helpers.stats.calibrate import pit_values

log = logging.getLogger("sbc")


def _save_png(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=72)
    plt.close(fig)
    store.atomic_write(path, buffer.getvalue())


def _pit_by_quantity(ranks: pd.DataFrame, quantities: list[str]) -> dict[str, np.ndarray]:
    frame = ranks.loc[ranks["quantity"].isin(quantities)].sort_values(["quantity", "replicate"])
    frame = frame.assign(pit=pit_values(frame))
    return {q: g["pit"].to_numpy() for q, g in frame.groupby("quantity", sort=False)}


def thumbnail(folder: Path, ranks: pd.DataFrame, worst: list[str]) -> bool:
    """ECDF differences of the unit's least calibrated quantities, as a small PNG."""
    if ranks.empty or not worst:
        return False
    pits = _pit_by_quantity(ranks, worst)
    curves = {q: {"": pits[q]} for q in worst}
    _save_png(plots.ecdf_panels(curves, len(pits[worst[0]]), size=(2.4, 1.7)), folder / UNIT_FILES["thumbnail"])
    return True


def comparison(campaign_dir: Path, tables: dict[str, analysis.Tables], n: int = 8) -> Path | None:
    """ECDF differences of two or more units on shared axes, quantity by quantity."""
    ranks = {u: t.ranks for u, t in tables.items() if not t.ranks.empty}
    if len(ranks) < 2:
        return None
    common = set.intersection(*(set(r["quantity"]) for r in ranks.values()))
    if not common:
        return None
    order = pd.concat([pd.read_csv(store.unit_dir(campaign_dir, u) / UNIT_FILES["calibration"]) for u in ranks])
    order = order.loc[order["quantity"].isin(common)]
    chosen = order.groupby("quantity")["p_adjusted"].min().sort_values().index[:n].tolist()
    pits = {u: _pit_by_quantity(r, chosen) for u, r in ranks.items()}
    curves = {q: {u: pits[u][q] for u in ranks} for q in chosen}
    n_replicates = min(len(next(iter(p.values()))) for p in pits.values())
    path = campaign_dir / CAMPAIGN_FILES["compare"]
    _save_png(plots.ecdf_panels(curves, n_replicates), path)
    return path


def _cell_line(err: BaseException) -> str:
    """An exception as ``Type: message`` on one line (a notebook cell's error as the cell raised it,
    with the cell's index)."""
    cell = f"cell {err.cell_index}: " if getattr(err, "cell_index", None) is not None else ""
    return cell + one_line(err)


class _Steps:
    """Runs a unit's report steps; a failing step is logged with its traceback (to the log file
    only: the terminal shows debug messages with -v alone) and remembered for one line at the end."""

    def __init__(self):
        self.failed: list[str] = []

    def run(self, unit: str, step: str, action, *args, **kwargs):
        try:
            return action(*args, **kwargs), True
        except Exception as err:  # noqa: BLE001 - a page is never worth the run or the other units
            log.debug("report: %s: %s failed", unit, step, exc_info=True)
            self.failed.append(f"{unit}: {step} ({_cell_line(err)})")
            return None, False


def _summary_notebook(folder: Path, unit, kernel: WarmKernel) -> None:
    import papermill

    from sbc_helpers.run.tasks import template_path

    km, reset = kernel.acquire(str(folder.resolve()))
    papermill.execute_notebook(
        str(template_path("sbc_summary.ipynb")), str(folder / UNIT_FILES["summary"]), kernel_name=kernel.kernel_name,
        progress_bar=False, parameters={"model_dir": str(folder.resolve()), "title": f"SBC summary: {unit.name}"},
        engine_name="warm", km=km, reset=reset)


def unit_report(campaign_dir: Path, unit, tables: analysis.Tables, kernel: WarmKernel, verdict: dict,
                steps: _Steps) -> dict:
    """Execute and render an analysed unit's summary notebook and its replicate pages; a failing
    step goes to ``steps``. A summary notebook that stopped halfway is still rendered, its error
    shown where it stopped."""
    folder = store.unit_dir(campaign_dir, unit.name)
    calibration = pd.read_csv(folder / UNIT_FILES["calibration"])
    rendered = rendered_replicates(tables.replicates, calibration)
    started = time.time()
    steps.run(unit.name, "summary notebook", _summary_notebook, folder, unit, kernel)
    summary = folder / UNIT_FILES["summary"]
    if summary.is_file() and summary.stat().st_mtime >= started:  # run now, to its end or to its error
        steps.run(unit.name, "summary page", pages.to_html, summary, folder / UNIT_FILES["summary_page"])
    steps.run(unit.name, "replicate pages", pages.render_replicates, folder, rendered)
    verdict["thumbnail"] = steps.run(unit.name, "index thumbnail", thumbnail, folder, tables.ranks,
                                     verdict["worst"])[0] or False
    verdict["rendered"] = rendered
    return verdict


def _failed_line(campaign_dir: Path, failed: list[str]) -> str:
    return (f"report: {'; '.join(failed)}; the tables are written, the traceback is in "
            f"{campaign_dir / CAMPAIGN_FILES['log']}; rebuild with `sbc report {campaign_dir}`")


def build(campaign_dir: Path | str, campaign: Campaign | None = None,
          tables: dict[str, analysis.Tables] | None = None) -> Path:
    """Build every unit's report and the index page from what is on disk (``tables``: the units'
    tables when the caller has just gathered them). Raises ``ReportError`` naming the steps that
    failed, after building everything else."""
    campaign_dir = Path(campaign_dir)
    campaign = campaign or campaign_from(store.read_manifest(campaign_dir), str(campaign_dir))
    tables = dict(tables or {})
    verdicts = []
    kernel = WarmKernel()  # one kernel for every summary notebook: imports paid once
    steps = _Steps()
    analysed = {}
    for unit in campaign.units():  # the tables first: every unit's, before any page
        if unit.name not in tables:
            tables[unit.name] = analysis.gather(campaign_dir, unit.name, campaign)
        verdict, ok = steps.run(unit.name, "analysis", analysis.analyse, campaign_dir, unit, campaign,
                                tables[unit.name])
        if ok:
            analysed[unit.name] = verdict
    steps.run("campaign", "methods compared", analysis.compare_methods, campaign_dir, list(analysed.values()))
    try:
        for unit in campaign.units():
            if unit.name in analysed:
                log.info("report: %s", unit.name)
                verdicts.append(unit_report(campaign_dir, unit, tables[unit.name], kernel, analysed[unit.name], steps))
    finally:
        kernel.discard()
    compare = steps.run("campaign", "side-by-side figure", comparison, campaign_dir, tables)[0]
    index = campaign_dir / CAMPAIGN_FILES["index"]
    rendered = {v["unit"]: v["rendered"] for v in verdicts}
    store.atomic_write(index, pages.index_html(campaign.name, verdicts, compare, campaign_dir, rendered).encode())
    if steps.failed:
        raise ReportError(_failed_line(campaign_dir, steps.failed))
    return index
