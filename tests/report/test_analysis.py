"""Analysis: the verdict, its resolution, whether flagged fits change it, and the level the pages state."""

import html

import numpy as np
import pandas as pd
from rankdata import flat_ranks, mixed_frame, ranks_frame

from sbc_helpers.contract import CALIBRATION_PAGE
from sbc_helpers.report import analysis, tables
from sbc_helpers.report.pages import index_html
from sbc_helpers.run.params import Campaign
from sbc_helpers.run.sequential import decide
from sbc_helpers.stats import calibrate as cal
from sbc_helpers.stats import planning


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
    nominal, low, high = planning.undetected_coverage(102, 50, 3)
    _, low4, high4 = planning.undetected_coverage(408, 50, 3)
    line = analysis.resolution(flat, 50)
    assert line.startswith("With 102 replicates and 3 quantities")
    assert f"central {nominal:.0%} intervals cover under {low:.0%} or over {high:.0%}" in line
    assert line.endswith(f"With 408 replicates: under {low4:.0%} or over {high4:.0%}.")
    assert analysis.resolution(flat.iloc[0:0], 50) == ""


def _analysed(tmp_path, bad: bool, sequential: bool) -> tuple[dict, pd.DataFrame]:
    """A unit analysed in process: 200 replicates of ranks of two quantities, the first piled at the
    ends when ``bad``; in a sequential campaign the stopping rule decides where the tables end."""
    campaign = Campaign(name="s", seed=1, replicates=200, rank_draws=20,
                        sequential={"alpha": 0.05} if sequential else None,
                        models=[{"name": "m", "model": "normal_normal"}], inference={"method": "nuts"})
    rng = np.random.default_rng(5)
    first = rng.choice([0, 20], 200) if bad else rng.integers(0, 21, 200)
    ranks = ranks_frame(np.stack([first, rng.integers(0, 21, 200)]), 20)
    ranks = ranks.assign(true_value=0.0, post_mean=0.0, post_sd=1.0, variable=ranks["quantity"])
    replicates = pd.DataFrame({"replicate": range(200), "status": "ok", "flags": "", "error": None, "message": None})
    decision, used = None, ranks
    if sequential:
        decision = decide(campaign, ranks, replicates)
        used = ranks.loc[ranks["replicate"] < decision.stopped_at].reset_index(drop=True)
        replicates = replicates.loc[replicates["replicate"] < decision.stopped_at]
    tables = analysis.Tables(ranks=used, replicates=replicates, decision=decision, sequential_ranks=ranks,
                             failed_truths=pd.DataFrame(columns=["replicate", "quantity", "true_value"]))
    verdict = analysis.analyse(tmp_path, campaign.units()[0], campaign, tables)
    return verdict, cal.calibration_report(used, campaign.alpha)


def test_pages_state_the_level_the_marks_are_decided_at(tmp_path):
    verdict, calibration = _analysed(tmp_path, bad=False, sequential=False)
    assert "at the 5% level" in tables.calibration_table_html(calibration, set(), verdict)
    assert "(Holm-adjusted across the model's quantities, 5% level)" in index_html("s", [verdict], None, tmp_path, {})
    verdict, calibration = _analysed(tmp_path, bad=False, sequential=True)
    assert verdict["sequential"]["reason"] == "maximum"
    page = html.unescape(tables.calibration_table_html(calibration, set(), verdict))
    assert ("the fixed-N gamma test, Holm-adjusted across the quantities, at the 2.5% level; the other 2.5% of "
            "the campaign's 5% goes to the e-process.") in page
    assert "5% level" not in page.replace("2.5% level", "") and "descriptive" not in page
    assert "the fixed-N test at the 2.5% level, the e-process at the other 2.5%" in index_html(
        "s", [verdict], None, tmp_path, {})


def test_after_a_stop_the_data_chose_the_fixed_n_marks_are_descriptive(tmp_path):
    verdict, calibration = _analysed(tmp_path, bad=True, sequential=True)
    assert verdict["sequential"]["reason"] == "flagged"
    page = tables.calibration_table_html(calibration, set(), verdict)
    assert "<th>calibrated (descriptive)</th>" in page
    assert "a stop the data chose: the marks read the replicates up to it and are descriptive" in page


def test_the_calibration_page_shows_the_contract_columns_in_order_with_their_meanings(tmp_path):
    _, calibration = _analysed(tmp_path, bad=False, sequential=False)
    page = tables.calibration_table_html(calibration, set())
    headings = [h.split("</th>")[0] for h in page.split("<th>")[1:]]
    assert headings == [c.name for c in CALIBRATION_PAGE]
    legend = page.split('<ul class="legend">')[1]
    assert [item.split("</code>")[0] for item in legend.split("<li><code>")[1:]] == headings
