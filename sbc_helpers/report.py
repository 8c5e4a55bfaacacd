"""Report: calibration tables, summary notebooks rendered to HTML, and the campaign index page."""

import functools
import html
import io
import logging
import os
import re
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd

from sbc_helpers import plots, store
from sbc_helpers.calibrate import calibration_table, pit_values, shape_reading, worst_replicates
from sbc_helpers.kernels import WarmKernel
from sbc_helpers.params import Campaign, ParamsError
from sbc_helpers.summary import RENDER_ALL_UP_TO, flag_replicates, verdict

log = logging.getLogger("sbc")
SUMMARY_TEMPLATE = Path(__file__).resolve().parent.parent / "templates" / "sbc_summary.ipynb"


@functools.cache
def _exporter(exclude_input: bool):
    """One HTML exporter per kind of page, reused: its templates compile on first use, which was
    40% of rendering a replicate page (0.19 s a page with a new exporter, 0.11 s reused)."""
    from nbconvert import HTMLExporter

    # reports: no code and no In/Out prompts; replicate pages keep both (people read their code)
    exporter = HTMLExporter(template_name="lab", exclude_input=exclude_input, exclude_input_prompt=exclude_input,
                            exclude_output_prompt=exclude_input)
    exporter.log.setLevel(logging.ERROR)  # "alternative text is missing" for every figure
    return exporter


def to_html(notebook_path: Path, html_path: Path, exclude_input: bool = True, css: Path | None = None) -> None:
    """Render an executed notebook to a static HTML page (code cells hidden by default).

    With ``css``, the stylesheets nbconvert inlines in every page's head (about 265 KB) are written
    once to that file and linked instead, so a folder of replicate pages stays small.
    """
    body, _ = _exporter(exclude_input).from_notebook_node(nbformat.read(notebook_path, as_version=4))
    body = strip_remote_resources(body)
    if css is not None:
        body = _link_head_styles(body, css, html_path)
    store.atomic_write(html_path, body.encode())


REMOTE = re.compile(r'<script[^>]*\ssrc="https?://[^"]*"[^>]*>\s*</script>\s*|<link[^>]*\shref="https?://[^"]*"[^>]*>\s*')


def strip_remote_resources(page: str) -> str:
    """Drop the scripts and stylesheets nbconvert loads from CDNs (require.js, MathJax): the
    reports use neither, and a page must open offline from the file system."""
    return REMOTE.sub("", page)


def _link_head_styles(page: str, css: Path, html_path: Path) -> str:
    head, sep, rest = page.partition("</head>")
    styles = re.findall(r"<style[^>]*>(.*?)</style>", head, flags=re.S)
    if not sep or not styles:
        return page
    text = "\n".join(styles)
    if not css.is_file() or css.read_text() != text:
        store.atomic_write(css, text.encode())
    link = f'<link rel="stylesheet" href="{os.path.relpath(css, html_path.parent)}">'
    return re.sub(r"<style[^>]*>.*?</style>\s*", "", head, flags=re.S) + link + sep + rest


def render_replicates(folder: Path, replicates: pd.DataFrame, wanted: set[int]) -> int:
    """Render replicate notebooks to HTML pages: all of them for campaigns up to
    ``RENDER_ALL_UP_TO`` replicates, otherwise only ``wanted`` (flagged, failed, worst), so large
    campaigns stay small. Pages already up to date are kept. Returns how many were rendered."""
    count = 0
    pages = folder / "replicates"
    chosen = set(replicates["replicate"]) if len(replicates) <= RENDER_ALL_UP_TO else wanted
    for replicate in sorted(chosen):
        notebook = store.replicate_paths(folder.parent, folder.name, int(replicate))["notebook"]
        page = notebook.with_suffix(".html")
        if not notebook.is_file() or (page.is_file() and page.stat().st_mtime >= notebook.stat().st_mtime):
            continue
        to_html(notebook, page, exclude_input=False, css=pages / "notebook.css")
        count += 1
    return count


def recompute(campaign_dir: Path, campaign: Campaign) -> int:
    """Re-rank every finished replicate from its archive with ``campaign``'s current settings
    (rank_draws, quantities, derived, log_likelihood), without refitting. Returns how many."""
    from sbc_helpers.registry import make_design, resolve_model
    from sbc_helpers.replicate import archived_quantities, ranks_from_archive, read_archive

    count = 0
    for unit in campaign.units():
        model = None
        if campaign.log_likelihood:
            design = make_design(campaign.design_for(unit.spec), campaign.base_dir)
            model = resolve_model(unit.spec.model, campaign.base_dir)(design, **unit.spec.model_kwargs)
        for record in store.records(campaign_dir, unit.name):
            if not store.is_complete(campaign_dir, unit.name, record["replicate"]):
                continue
            paths = store.replicate_paths(campaign_dir, unit.name, record["replicate"])
            archived = read_archive(paths["draws"])
            if archived.sizes["draw"] < campaign.rank_draws:
                raise ParamsError(f"rank_draws={campaign.rank_draws} needs that many kept draws; "
                                  f"{unit.name} kept {archived.sizes['draw']} (raise keep_draws and rerun)")
            ranks = ranks_from_archive(archived, unit.spec.quantities or archived_quantities(archived),
                                       campaign.rank_draws,
                                       record["seed"], campaign.derived_for(unit.spec), model)
            ranks.insert(0, "replicate", record["replicate"])
            store.atomic_write(paths["ranks"], ranks.to_parquet(index=False))
            count += 1
    return count


def calibration_report(ranks: pd.DataFrame) -> pd.DataFrame:
    """The calibration table with each quantity's shape reading and its worst replicate."""
    table = calibration_table(ranks)
    if table.empty:
        return table.assign(reading=pd.Series(dtype=str), worst_replicate=pd.Series(dtype=int))
    readings = table["quantity"].map(shape_reading(ranks).set_index("quantity")["reading"])
    # shapes are read with unadjusted z-tests: describe only what the verdict flags
    readings = readings.where(~table["calibrated"], "uniform (not flagged)")
    return table.assign(reading=readings, worst_replicate=table["quantity"].map(worst_replicates(ranks)))


def _pit_by_quantity(ranks: pd.DataFrame, quantities: list[str]) -> dict[str, np.ndarray]:
    frame = ranks.loc[ranks["quantity"].isin(quantities)].sort_values(["quantity", "replicate"])
    frame = frame.assign(pit=pit_values(frame))
    return {q: g["pit"].to_numpy() for q, g in frame.groupby("quantity", sort=False)}


def _save_png(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=72)
    plt.close(fig)
    store.atomic_write(path, buffer.getvalue())


def thumbnail(folder: Path, ranks: pd.DataFrame, calibration: pd.DataFrame, n: int = 4) -> Path | None:
    """ECDF differences of the model's ``n`` least calibrated quantities, as a small PNG."""
    if ranks.empty:
        return None
    worst = calibration.sort_values("p_adjusted")["quantity"].head(n).tolist()
    pits = _pit_by_quantity(ranks, worst)
    curves = {q: {"": pits[q]} for q in worst}
    path = folder / "ecdf.png"
    _save_png(plots.ecdf_panels(curves, len(pits[worst[0]]), size=(2.4, 1.7)), path)
    return path


def comparison(campaign_dir: Path, units: list[str], n: int = 8) -> Path | None:
    """ECDF differences of two or more models or methods on shared axes, quantity by quantity."""
    ranks = {u: pd.read_parquet(store.model_dir(campaign_dir, u) / "ranks.parquet") for u in units}
    ranks = {u: r for u, r in ranks.items() if not r.empty}
    if len(ranks) < 2:
        return None
    common = set.intersection(*(set(r["quantity"]) for r in ranks.values()))
    if not common:
        return None
    order = pd.concat([calibration_table(r.loc[r["quantity"].isin(common)]) for r in ranks.values()])
    chosen = order.groupby("quantity")["p_adjusted"].min().sort_values().index[:n].tolist()
    pits = {u: _pit_by_quantity(r, chosen) for u, r in ranks.items()}
    curves = {q: {u: pits[u][q] for u in ranks} for q in chosen}
    n_replicates = min(len(next(iter(p.values()))) for p in pits.values())
    path = campaign_dir / "compare.png"
    _save_png(plots.ecdf_panels(curves, n_replicates), path)
    return path


def model_report(campaign_dir: Path, model: str, thresholds: dict, kernel: WarmKernel) -> dict:
    """Gather a model's tables, test calibration, execute and render its summary notebook."""
    import papermill

    folder = store.model_dir(campaign_dir, model)
    ranks, replicates = store.gather(campaign_dir, model)
    if not replicates.empty:
        replicates["flags"] = flag_replicates(replicates, thresholds)
        store.atomic_write(folder / "replicates.parquet", replicates.to_parquet(index=False))
    calibration = calibration_report(ranks)
    store.atomic_write(folder / "calibration.csv", calibration.to_csv(index=False).encode())
    summary = folder / "summary.ipynb"
    km, reset = kernel.acquire(str(folder.resolve()))
    papermill.execute_notebook(
        str(SUMMARY_TEMPLATE), str(summary), kernel_name=kernel.kernel_name, progress_bar=False,
        parameters={"model_dir": str(folder.resolve()), "title": f"SBC summary: {model}"},
        engine_name="warm", km=km, reset=reset,
    )
    to_html(summary, folder / "summary.html")
    flags = replicates.get("flags", pd.Series(dtype=str)).fillna("")
    wanted = set(replicates.loc[flags != "", "replicate"]) | set(calibration.get("worst_replicate", []))
    render_replicates(folder, replicates, wanted)
    n_ok = int((replicates["status"] == "ok").sum()) if len(replicates) else 0
    return {
        "model": model,
        "done": n_ok,
        "failed": len(replicates) - n_ok,
        "verdict": verdict(calibration),
        "calibrated": bool(len(calibration)) and bool(calibration["calibrated"].all()),
        "flagged": int((flags != "").sum()),
        "seconds": float(replicates.get("wall_seconds", pd.Series(dtype=float)).sum()),
        "thumbnail": thumbnail(folder, ranks, calibration),
    }


def build(campaign_dir: Path | str, recompute_with: Campaign | None = None) -> Path:
    """Rebuild every model's report and the index page from what is on disk.

    With ``recompute_with`` (a campaign: the manifest's, or an edited params file's), ranks are
    first recomputed from each replicate's archive.
    """
    campaign_dir = Path(campaign_dir)
    if recompute_with is not None:
        log.info("recomputed %d replicates", recompute(campaign_dir, recompute_with))
        store.write_manifest(campaign_dir, recompute_with.model_dump(mode="json"))
    manifest = store.read_manifest(campaign_dir)
    thresholds = Campaign(**manifest).thresholds.model_dump()
    units = store.campaign_models(campaign_dir)
    rows = []
    kernel = WarmKernel()  # one kernel for every summary notebook: imports paid once
    try:
        for model in units:
            log.info("report: %s", model)
            rows.append(model_report(campaign_dir, model, thresholds, kernel))
    finally:
        kernel.discard()
    compare = comparison(campaign_dir, units)
    index = campaign_dir / "index.html"
    store.atomic_write(index, index_html(manifest["name"], rows, compare, campaign_dir).encode())
    return index


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5rem auto;max-width:80rem;
padding:0 1rem;color:#222;line-height:1.4}table{border-collapse:collapse;width:100%}
th,td{padding:.4rem .6rem;border-bottom:1px solid #ddd;text-align:left;vertical-align:middle}
th{background:#f4f4f4;cursor:pointer}.ok{color:#11702b;font-weight:600}.bad{color:#b00020;font-weight:600}
.muted{color:#555}img.thumb{height:90px;display:block}img.wide{max-width:100%}
"""

SORT_SCRIPT = """
<script>
// Click a column heading to sort its table (numbers numerically); no remote code.
document.querySelectorAll("table.sortable th").forEach((th, col) => th.addEventListener("click", () => {
  const body = th.closest("table").tBodies[0], rows = Array.from(body.rows);
  const dir = th.dataset.dir === "asc" ? -1 : 1; th.dataset.dir = dir === 1 ? "asc" : "desc";
  const key = r => { const t = r.cells[col].innerText.trim(), n = parseFloat(t); return isNaN(n) ? t : n; };
  rows.sort((a, b) => (key(a) > key(b) ? 1 : key(a) < key(b) ? -1 : 0) * dir).forEach(r => body.appendChild(r));
}));
</script>
"""


def index_html(campaign: str, rows: list[dict], compare: Path | None, campaign_dir: Path) -> str:
    """The campaign's index page: one row per model (and method) with its verdict, a thumbnail of
    its ECDF differences and a link to its report; then the side-by-side comparison."""
    body = []
    for row in rows:
        name = html.escape(row["model"])
        css = "ok" if row["calibrated"] else "bad"
        thumb = (f'<a href="{name}/summary.html"><img class="thumb" src="{name}/ecdf.png" '
                 f'alt="ECDF differences of {name}"></a>' if row["thumbnail"] else "")
        body.append(
            f'<tr><td><a href="{name}/summary.html">{name}</a></td><td>{row["done"]}</td>'
            f'<td>{row["failed"]}</td><td class="{css}">{html.escape(row["verdict"])}</td>'
            f'<td>{row["flagged"]}</td><td>{row["seconds"]:.0f}</td><td>{thumb}</td></tr>'
        )
    side_by_side = (
        '<h2>Side by side</h2><p class="muted">ECDF differences of the quantities the models share, '
        "least calibrated first, on shared axes; grey is the 99% simultaneous band.</p>"
        f'<img class="wide" src="{os.path.relpath(compare, campaign_dir)}" alt="ECDF differences compared">'
        if compare else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>SBC: {html.escape(campaign)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>
<body><h1>Simulation-based calibration: {html.escape(campaign)}</h1>
<p class="muted">Each model's true values were ranked among its posterior draws over many simulated
data sets; calibrated inference gives uniform ranks. The verdict tests each quantity's ranks
(Holm-adjusted across the model's quantities, 5% level) and names the worst. Follow a model's name
for its plots and per-replicate notebooks. Flagged fits crossed a diagnostic threshold
(divergences, R-hat, ESS, BFMI).</p>
<table class="sortable"><thead><tr><th>model</th><th>replicates done</th><th>failed</th><th>verdict</th>
<th>flagged fits</th><th>worker seconds</th><th>ECDF differences (worst quantities)</th></tr></thead>
<tbody>{"".join(body)}</tbody></table>
{side_by_side}
{SORT_SCRIPT}</body></html>
"""
