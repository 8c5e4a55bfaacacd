"""Flags: a fit's own diagnostics against the campaign's thresholds."""

import numpy as np
import pandas as pd

from sbc_helpers.contract import DIAGNOSTICS
from sbc_helpers.run.params import Thresholds
from sbc_helpers.stats.flags import flag_replicates

THRESHOLDS = {"divergences": 0, "treedepth_hits": 0, "max_rhat": 1.01, "min_ess": 100, "min_bfmi": 0.2}


def replicates_table() -> pd.DataFrame:
    good = {"status": "ok", "divergences": 0, "treedepth_hits": 0, "max_rhat": 1.0, "min_ess_bulk": 400.0,
            "min_ess_tail": 300.0, "min_bfmi": 0.9}
    rows = [
        good,
        {**good, "divergences": 3},
        {**good, "treedepth_hits": 1},
        {**good, "max_rhat": 1.05},
        {**good, "min_ess_bulk": 40.0},
        {**good, "min_ess_tail": 99.0},
        {**good, "min_bfmi": 0.1},
        {**good, "divergences": 1, "max_rhat": 1.2, "min_bfmi": 0.05},
        # one-chain exact draws: no R-hat, no BFMI (NaN), nothing to flag
        {**good, "max_rhat": np.nan, "min_bfmi": np.nan},
        {"status": "failed", "divergences": np.nan, "treedepth_hits": np.nan, "max_rhat": np.nan,
         "min_ess_bulk": np.nan, "min_ess_tail": np.nan, "min_bfmi": np.nan},
        {**good, "status": "failed"},
        {"status": "not_run"},
    ]
    return pd.DataFrame(rows).assign(replicate=lambda t: np.arange(len(t)))


def test_flag_replicates_names_each_reason():
    flags = flag_replicates(replicates_table(), THRESHOLDS)
    assert list(flags) == ["", "divergences", "treedepth", "rhat", "ess", "ess", "bfmi",
                           "divergences, rhat, bfmi", "", "failed", "failed", "not run"]


def test_flag_replicates_thresholds_are_exclusive_limits():
    table = replicates_table().iloc[[1, 3, 4, 6]]
    lenient = {"divergences": 3, "treedepth_hits": 0, "max_rhat": 1.05, "min_ess": 40, "min_bfmi": 0.1}
    assert list(flag_replicates(table, lenient)) == ["", "", "", ""]


def test_flag_replicates_of_no_replicates_is_empty():
    assert flag_replicates(pd.DataFrame(), THRESHOLDS).empty


def test_each_declared_diagnostic_flags_past_its_default_threshold_by_its_own_name():
    thresholds = Thresholds().model_dump()
    clean = {"status": "ok", **{f: d.default for d in DIAGNOSTICS for f in d.fields}}
    for diagnostic in DIAGNOSTICS:
        worse = diagnostic.default + (1 if diagnostic.direction == "above" else -1e-3)
        row = {**clean, **dict.fromkeys(diagnostic.fields, worse)}
        assert list(flag_replicates(pd.DataFrame([clean, row]), thresholds)) == ["", diagnostic.flag]


def test_an_ess_with_one_part_undefined_is_judged_by_the_other_as_the_record_is():
    # tail ESS undefined (NaN) and bulk ESS 50: the record's min_ess is 50, and the fit is flagged
    from sbc_helpers.contract import worst_of_parts

    ess = next(d for d in DIAGNOSTICS if d.parts)
    row = {"status": "ok", "min_ess_bulk": 50.0, "min_ess_tail": np.nan}
    assert worst_of_parts(ess, row) == 50.0
    assert list(flag_replicates(pd.DataFrame([row]), THRESHOLDS)) == ["ess"]
    assert list(flag_replicates(pd.DataFrame([{**row, "min_ess_bulk": np.nan}]), THRESHOLDS)) == [""]
