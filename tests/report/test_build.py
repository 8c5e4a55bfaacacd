"""A unit's report at the size of real hierarchical models, from synthetic ranks (no fitting):
every figure bounded, every quantity in the tables; and a report step that fails costs neither the
tables nor the run, and says in one line what failed and how to rebuild."""

import json
import struct

import pandas as pd
import papermill
from papermill.exceptions import PapermillExecutionError
from rankdata import synthetic_unit

from sbc_helpers import cli
from sbc_helpers.contract import CAMPAIGN_FILES, UNIT_FILES
from sbc_helpers.report import analysis
from sbc_helpers.report.build import build


def _png_heights(notebook) -> list[int]:
    """Pixel heights of a notebook's PNG figures (the PNG header's IHDR chunk)."""
    import base64

    cells = json.loads(notebook.read_text())["cells"]
    images = [base64.b64decode(o["data"]["image/png"]) for c in cells if c["cell_type"] == "code"
              for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    return [struct.unpack(">II", png[16:24])[1] for png in images]


def test_a_unit_of_1000_quantities_gets_bounded_figures_and_every_quantity_in_its_table(tmp_path):
    campaign_dir, campaign, tables = synthetic_unit(tmp_path, 1003, 30, max_rank=20)
    quantities = tables["m"].ranks["quantity"].unique()
    assert len(quantities) == 1003
    build(campaign_dir, campaign, tables)
    unit = campaign_dir / "m"
    page = (unit / UNIT_FILES["summary_page"]).read_text()
    assert (campaign_dir / CAMPAIGN_FILES["index"]).is_file() and len(page) < 5e6
    heights = _png_heights(unit / UNIT_FILES["summary"])
    # rank histograms, ECDF, every element, recovery, z-scores, coverage, failure map, divergences
    assert len(heights) == 8 and max(heights) < 1000, heights  # 16 panels at most: 4 rows
    assert "Shown: the first 16 of 1003 quantities, least calibrated first" in page
    assert all(f"<td>{q}</td>" in page for q in quantities)  # the calibration table holds them all
    verdict = json.loads((unit / UNIT_FILES["verdict"]).read_text())
    assert set(verdict["worst"][:3]) == {"theta[0]", "theta[1]", "theta[2]"}  # the miscalibrated ones


def test_a_report_that_fails_leaves_the_tables_and_says_how_to_rebuild(tmp_path, monkeypatch, capsys):
    campaign_dir, _, tables = synthetic_unit(tmp_path, 23, 30, max_rank=20)
    monkeypatch.setattr(analysis, "gather", lambda *args: tables["m"])

    def fails(*args, **kwargs):
        raise PapermillExecutionError(12, 7, "plots.ecdf_difference(ranks);", "ValueError",
                                      "Requested 204 subplots, which exceeds rcParams['plot.max_subplots']=40.",
                                      ["Traceback (most recent call last):", "ValueError: Requested 204 subplots"])

    monkeypatch.setattr(papermill, "execute_notebook", fails)
    code = cli.main(["report", str(campaign_dir), "-q"])
    err = capsys.readouterr().err
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "m: summary notebook (cell 12: ValueError: Requested 204 subplots" in lines[0]
    assert f"sbc report {campaign_dir}" in lines[0]
    unit = campaign_dir / "m"
    for table in ("calibration", "ranks", "verdict"):
        assert (unit / UNIT_FILES[table]).is_file(), table
    assert len(pd.read_csv(unit / UNIT_FILES["calibration"])) == 23
    assert (campaign_dir / CAMPAIGN_FILES["index"]).is_file()
    logged = (campaign_dir / CAMPAIGN_FILES["log"]).read_text()
    assert "Traceback (most recent call last)" in logged and "Requested 204 subplots" in logged
