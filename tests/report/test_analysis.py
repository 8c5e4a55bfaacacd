"""Analysis: the verdict, its resolution, and whether flagged fits change it."""

import numpy as np
import pandas as pd
from rankdata import flat_ranks, mixed_frame, ranks_frame

from sbc_helpers.report import analysis
from sbc_helpers.stats import calibrate as cal


def _campaign_with_flagged_outliers(flag_the_outliers: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """150 replicates of flat ranks and 50 whose ranks of 'q' sit at 0 or L (its whole
    miscalibration); 'r' is flat everywhere. The 50 are the flagged ones, or 50 ordinary ones are."""
    L = 29
    clean = flat_ranks(L, 5, seed=1)  # 150 ranks, each value 0..29 five times
    outliers = np.tile([0, L], 25)
    frame = pd.concat([
        ranks_frame(np.r_[clean, outliers], L, prefix="q"),
        ranks_frame(flat_ranks(L, 5, seed=2)[np.arange(200) % 150], L, prefix="r"),
    ], ignore_index=True)
    frame["quantity"] = frame["variable"]
    flagged = np.arange(150, 200) if flag_the_outliers else np.arange(0, 50)
    replicates = pd.DataFrame({"replicate": np.arange(200), "status": "ok", "flags": ""})
    replicates.loc[flagged, "flags"] = "divergences"
    return frame, replicates


def test_sensitivity_flips_the_verdict_when_flagged_replicates_carry_the_miscalibration():
    ranks, replicates = _campaign_with_flagged_outliers(True)
    result = analysis.sensitivity(ranks, replicates, cal.calibration_table(ranks))
    assert result["n_flagged"] == 50
    assert result["verdict_all"] == "miscalibrated: q"
    assert result["verdict_unflagged"] == "no evidence of miscalibration in 2 quantities"
    assert result["changed"] is True


def test_sensitivity_keeps_the_verdict_when_flagged_replicates_are_ordinary():
    ranks, replicates = _campaign_with_flagged_outliers(False)
    result = analysis.sensitivity(ranks, replicates, cal.calibration_table(ranks))
    assert result["n_flagged"] == 50
    assert result["verdict_all"] == result["verdict_unflagged"] == "miscalibrated: q"
    assert not result["changed"]


def test_sensitivity_when_every_replicate_is_flagged():
    ranks, replicates = _campaign_with_flagged_outliers(True)
    replicates["flags"] = "ess"
    result = analysis.sensitivity(ranks, replicates, cal.calibration_table(ranks))
    assert result["verdict_unflagged"] == "no unflagged replicates"
    assert result["n_flagged"] == 200


def test_verdict_names_the_worst_quantities():
    assert analysis.verdict_line(cal.calibration_table(mixed_frame().iloc[0:0])) == "no completed replicates"
    assert analysis.verdict_line(cal.calibration_table(mixed_frame())) == "miscalibrated: ushape00000"
    flat = ranks_frame(np.stack([flat_ranks(50, 2, seed=s) for s in range(3)]), 50)
    assert analysis.verdict_line(cal.calibration_table(flat)) == "no evidence of miscalibration in 3 quantities"


def test_resolution_line_quotes_the_coverage_this_campaign_is_sure_to_flag():
    flat = cal.calibration_table(ranks_frame(np.stack([flat_ranks(50, 2, seed=s) for s in range(3)]), 50))
    nominal, low, high = cal.undetected_coverage(102, 50, 3)
    _, low4, high4 = cal.undetected_coverage(408, 50, 3)
    line = analysis.resolution(flat, 50)
    assert line.startswith("With 102 replicates and 3 quantities")
    assert f"central {nominal:.0%} intervals cover under {low:.0%} or over {high:.0%}" in line
    assert line.endswith(f"With 408 replicates: under {low4:.0%} or over {high4:.0%}.")
    assert analysis.resolution(flat.iloc[0:0], 50) == ""
