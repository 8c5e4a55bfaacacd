"""The replicate contract: one set of names, one record with one validator."""

import pytest
from pydantic import ValidationError

from sbc_helpers.contract import (REPLICATE_COLUMNS, STAGES, Record, replicate_href, replicate_path,
                                  replicate_stem, stem_replicate)


@pytest.mark.parametrize("replicate, stem", [(0, "0000"), (3, "0003"), (9999, "9999"), (12345, "12345")])
def test_replicate_stems_sort_in_replicate_order_and_read_back(replicate, stem):
    assert replicate_stem(replicate) == stem
    assert stem_replicate(f"{stem}.draws.nc") == replicate


def test_replicate_files_and_links(tmp_path):
    assert replicate_path(tmp_path, 7, "notebook") == tmp_path / "replicates" / "0007.ipynb"
    assert replicate_path(tmp_path, 7, "record") == tmp_path / "replicates" / "0007.json"
    assert replicate_path(tmp_path, 7, "draws") == tmp_path / "replicates" / "0007.draws.nc"
    assert replicate_href(12345, "page") == "replicates/12345.html"
    assert replicate_href(7, "notebook", "m/replicates") == "m/replicates/0007.ipynb"


def test_a_record_states_its_outcome_consistently():
    ok = Record.ok(1, 2, {"min_ess_bulk": 250.0, "min_ess_tail": 90.0}, seconds=0.5)
    assert ok.status == "ok" and ok.min_ess == 90.0 and ok.error is None
    failed = Record.failed(1, 2, "KeyError", "'y'")
    assert failed.status == "failed" and failed.message == "'y'"
    assert Record.not_run(1, 2, "not run: stopped").status == "not_run"
    with pytest.raises(ValidationError, match="ok record has no error"):
        Record(replicate=1, seed=2, status="ok", error="KeyError")
    with pytest.raises(ValidationError, match="says why"):
        Record(replicate=1, seed=2, status="failed")
    with pytest.raises(ValidationError):
        Record(replicate=1, seed=2, status="ok", unknown_field=3)


def test_a_record_row_has_every_replicate_column_but_the_flags():
    row = Record.ok(0, 1, {}, stage_seconds={"fit": 0.2}).row()
    assert list(row) == [c for c in REPLICATE_COLUMNS if c != "flags"]
    assert row["t_fit"] == 0.2 and row["t_plots"] is None
    assert {"min_ess", "min_ess_bulk", "min_ess_tail", "wall_seconds", "attempts"} <= set(REPLICATE_COLUMNS)
    assert all(f"t_{s}" in REPLICATE_COLUMNS for s in STAGES)
