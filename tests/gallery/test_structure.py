"""The gallery's discrete and correlated parameters and censoring (``cases.py``),
through the real ``sbc run``."""

import json

import pandas as pd
import pytest

from gallery import cases

pytestmark = pytest.mark.slow  # a whole campaign
gallery, test_every_shape_runs_to_a_verdict_with_the_default_settings, test_every_replicate_notebook_shows_its_figures = \
    cases.group_tests("structure")


def test_a_constant_quantity_is_left_out_and_named(gallery):
    # an LKJ correlation matrix's diagonal is 1 in every prior draw: its ranks would test nothing
    _, out = gallery
    verdict = json.loads((out / "correlated" / "verdict.json").read_text())
    assert verdict["constant"] == ["chol_corr[0, 0]", "chol_corr[1, 1]"]
    ranked = set(pd.read_parquet(out / "correlated" / "ranks.parquet")["quantity"])
    assert "chol_corr[0, 1]" in ranked and not ranked & set(verdict["constant"])
    assert set(pd.read_csv(out / "correlated" / "calibration.csv")["quantity"]) == ranked
    assert "Not tested, the same true value in every replicate: chol_corr[0, 0], chol_corr[1, 1]." in (
        out / "correlated" / "summary.html").read_text()
    fits = pd.read_parquet(out / "correlated" / "replicates.parquet")
    assert fits["max_rhat"].notna().all()  # the constant has no R-hat; the others judge the fit
