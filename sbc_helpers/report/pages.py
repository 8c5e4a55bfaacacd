"""Pages: executed notebooks rendered to static HTML, and the campaign's index page."""

import functools
import logging
import os
import re
from pathlib import Path

import nbformat
from markupsafe import Markup

from sbc_helpers.contract import DIAGNOSTICS, UNIT_FILES, replicate_path
from sbc_helpers.report.analysis import methods_sentence
from sbc_helpers.report.tables import Cell, failures_html, levels, methods_html, render
from sbc_helpers.run import store

log = logging.getLogger("sbc")


@functools.cache
def _exporter(exclude_input: bool):
    """One HTML exporter per kind of page, reused: its templates compile on first use."""
    from nbconvert import HTMLExporter

    # reports: no code and no In/Out prompts; replicate pages keep both (people read their code)
    exporter = HTMLExporter(template_name="lab", exclude_input=exclude_input, exclude_input_prompt=exclude_input,
                            exclude_output_prompt=exclude_input)
    exporter.log.setLevel(logging.ERROR)  # "alternative text is missing" for every figure
    return exporter


def to_html(notebook_path: Path, html_path: Path, exclude_input: bool = True, css: Path | None = None) -> None:
    """Render an executed notebook to a static HTML page (code cells hidden by default).

    With ``css``, the stylesheets nbconvert inlines in every page's head are written once to that
    file and linked instead, so a folder of replicate pages stays small.
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


def render_replicates(folder: Path, wanted: set[int]) -> int:
    """Render the ``wanted`` replicates' notebooks to HTML pages; pages already up to date are kept.
    Returns how many were rendered."""
    count = 0
    for replicate in sorted(wanted):
        notebook = replicate_path(folder, replicate, "notebook")
        page = replicate_path(folder, replicate, "page")
        if not notebook.is_file() or (page.is_file() and page.stat().st_mtime >= notebook.stat().st_mtime):
            continue
        to_html(notebook, page, exclude_input=False, css=folder / UNIT_FILES["notebook_css"])
        count += 1
    return count


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5rem auto;max-width:80rem;
padding:0 1rem;color:#222;line-height:1.4}table{border-collapse:collapse;width:100%}
th,td{padding:.4rem .6rem;border-bottom:1px solid #ddd;text-align:left;vertical-align:middle}
th{background:#f4f4f4;cursor:pointer}.ok{color:#11702b;font-weight:600}.bad{color:#b00020;font-weight:600}
.muted{color:#555}img.thumb{height:90px;display:block}img.wide{max-width:100%}
"""


def _seconds(value) -> str:
    return "" if value is None else f"{value:.3g}"


def methods_compared(verdicts: list[dict]) -> str:
    """For each model fitted by several methods: a table of the methods (verdict, worst quantities,
    median seconds per fit, median ESS per second where the draws are autocorrelated) and one
    sentence saying which methods are calibrated for it and what each costs."""
    by_model: dict[str, list[dict]] = {}
    for v in verdicts:
        by_model.setdefault(v["model"], []).append(v)
    sections = [(model, methods_sentence(model, units), [
        [Cell(v.get("method_label", v["method"]), href=f'{v["unit"]}/{UNIT_FILES["summary_page"]}'),
         Cell(v["verdict"], css="ok" if v["calibrated"] else "bad"), Cell(", ".join(v.get("worst") or [])),
         Cell(_seconds(v.get("fit_seconds"))), Cell(_seconds(v.get("ess_per_second")))] for v in units])
        for model, units in by_model.items() if len(units) >= 2]
    return methods_html(sections)


def index_html(campaign: str, verdicts: list[dict], compare: Path | None, campaign_dir: Path,
               rendered: dict[str, set[int]]) -> str:
    """The campaign's index page: one row per unit (model x method) with its verdict, a thumbnail
    of its ECDF differences and a link to its report; failures grouped by message; then the
    side-by-side comparison."""
    failures = [(v["unit"], Markup(failures_html(v["failures"], rendered.get(v["unit"], set()),
                                                 prefix=f"{v['unit']}/replicates")))
                for v in verdicts if v["failures"]]
    return render("index.html.j2", campaign=campaign, verdicts=verdicts, style=Markup(STYLE),
                  level=levels(verdicts[0]) if verdicts else "",  # one campaign: the same levels in every unit
                  flags=[d.flag for d in DIAGNOSTICS], summary_page=UNIT_FILES["summary_page"],
                  thumbnail=UNIT_FILES["thumbnail"], methods=methods_compared(verdicts), failures=failures,
                  compare=os.path.relpath(compare, campaign_dir) if compare else "")
