"""Report: calibration tables, summary notebooks rendered to HTML, and the campaign index page."""

import html
import logging
import os
import re
from pathlib import Path

import nbformat
import pandas as pd

from sbc_helpers import store
from sbc_helpers.calibrate import calibration_table
from sbc_helpers.params import Campaign, ParamsError
from sbc_helpers.summary import flag_replicates, verdict

log = logging.getLogger("sbc")
SUMMARY_TEMPLATE = Path(__file__).resolve().parent.parent / "templates" / "sbc_summary.ipynb"


def to_html(notebook_path: Path, html_path: Path, exclude_input: bool = True, css: Path | None = None) -> None:
    """Render an executed notebook to a static HTML page (code cells hidden by default).

    With ``css``, the stylesheets nbconvert inlines in every page's head (about 265 KB) are written
    once to that file and linked instead, so a folder of replicate pages stays small.
    """
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", exclude_input=exclude_input)
    exporter.log.setLevel(logging.ERROR)  # "alternative text is missing" for every figure
    body, _ = exporter.from_notebook_node(nbformat.read(notebook_path, as_version=4))
    if css is not None:
        body = _link_head_styles(body, css, html_path)
    store.atomic_write(html_path, body.encode())


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


def render_replicates(folder: Path) -> int:
    """Render each replicate notebook that has no up-to-date HTML page yet; returns how many."""
    count = 0
    replicates = folder / "replicates"
    for notebook in sorted(replicates.glob("*.ipynb")):
        page = notebook.with_suffix(".html")
        if page.is_file() and page.stat().st_mtime >= notebook.stat().st_mtime:
            continue
        to_html(notebook, page, exclude_input=False, css=replicates / "notebook.css")
        count += 1
    return count


def recompute(campaign_dir: Path, campaign: Campaign) -> int:
    """Re-rank every finished replicate from its archive with ``campaign``'s current settings
    (rank_draws, quantities, derived, log_likelihood), without refitting. Returns how many."""
    from sbc_helpers.registry import make_design, resolve_model
    from sbc_helpers.replicate import ranks_from_archive, read_archive

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
            names = [str(n) for n in archived.data_vars if not str(n).startswith(("true__", "data__"))]
            ranks = ranks_from_archive(archived, unit.spec.quantities or names, campaign.rank_draws,
                                       record["seed"], campaign.derived_for(unit.spec), model)
            ranks.insert(0, "replicate", record["replicate"])
            store.atomic_write(paths["ranks"], ranks.to_parquet(index=False))
            count += 1
    return count


def model_report(campaign_dir: Path, model: str, thresholds: dict) -> dict:
    """Gather a model's tables, test calibration, execute and render its summary notebook."""
    import papermill

    folder = store.model_dir(campaign_dir, model)
    ranks, replicates = store.gather(campaign_dir, model)
    if not replicates.empty:
        replicates["flags"] = flag_replicates(replicates, thresholds)
        store.atomic_write(folder / "replicates.parquet", replicates.to_parquet(index=False))
    calibration = calibration_table(ranks)
    store.atomic_write(folder / "calibration.csv", calibration.to_csv(index=False).encode())
    summary = folder / "summary.ipynb"
    papermill.execute_notebook(
        str(SUMMARY_TEMPLATE), str(summary), kernel_name="python3", progress_bar=False,
        parameters={"model_dir": str(folder.resolve()), "title": f"SBC summary: {model}"},
    )
    to_html(summary, folder / "summary.html")
    render_replicates(folder)
    n_ok = int((replicates["status"] == "ok").sum()) if len(replicates) else 0
    return {
        "model": model,
        "done": n_ok,
        "failed": len(replicates) - n_ok,
        "verdict": verdict(calibration),
        "calibrated": bool(len(calibration)) and bool(calibration["calibrated"].all()),
        "flagged": int((replicates.get("flags", pd.Series(dtype=str)).fillna("") != "").sum()),
        "seconds": float(replicates.get("wall_seconds", pd.Series(dtype=float)).sum()),
    }


def build(campaign_dir: Path | str, recompute_with: Campaign | None = None) -> Path:
    """Rebuild every model's report and the index page from what is on disk.

    With ``recompute_with`` (a campaign: the manifest's, or an edited params file's), ranks are
    first recomputed from each replicate's archive.
    """
    campaign_dir = Path(campaign_dir)
    manifest = store.read_manifest(campaign_dir)
    if recompute_with is not None:
        log.info("recomputed %d replicates", recompute(campaign_dir, recompute_with))
        store.write_manifest(campaign_dir, recompute_with.model_dump(mode="json"))
        manifest = store.read_manifest(campaign_dir)
    thresholds = Campaign(**manifest).thresholds.model_dump()
    rows = []
    for model in store.campaign_models(campaign_dir):
        log.info("report: %s", model)
        rows.append(model_report(campaign_dir, model, thresholds))
    index = campaign_dir / "index.html"
    store.atomic_write(index, index_html(manifest["name"], rows).encode())
    return index


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:72rem;
padding:0 1rem;color:#222}table{border-collapse:collapse;width:100%}th,td{padding:.4rem .6rem;
border-bottom:1px solid #ddd;text-align:left}th{background:#f4f4f4}.ok{color:#11702b;font-weight:600}
.bad{color:#b00020;font-weight:600}.muted{color:#666}
"""


def index_html(campaign: str, rows: list[dict]) -> str:
    """The campaign's index page: one row per model with its verdict and a link to its report."""
    body = []
    for row in rows:
        name = html.escape(row["model"])
        css = "ok" if row["calibrated"] else "bad"
        body.append(
            f'<tr><td><a href="{name}/summary.html">{name}</a></td><td>{row["done"]}</td>'
            f'<td>{row["failed"]}</td><td class="{css}">{html.escape(row["verdict"])}</td>'
            f'<td>{row["flagged"]}</td><td>{row["seconds"]:.0f}</td></tr>'
        )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>SBC: {html.escape(campaign)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>
<body><h1>Simulation-based calibration: {html.escape(campaign)}</h1>
<p class="muted">Each model's ranks of true values among posterior draws, tested for uniformity
(Holm-adjusted, 5% level). Follow a model's name for its plots and per-replicate notebooks.</p>
<table><thead><tr><th>model</th><th>replicates done</th><th>failed</th><th>verdict</th>
<th>flagged fits</th><th>worker seconds</th></tr></thead>
<tbody>{"".join(body)}</tbody></table></body></html>
"""
