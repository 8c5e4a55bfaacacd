"""``sbc compare`` on campaign folders written as a run writes them (replicate records and ranks),
without fitting: exit 0 when nothing got worse, 1 when calibration or failures did, 2 on bad input,
each with the lines, the page and compare.csv."""

import pandas as pd
import pytest

from campaign_pairs import N, write_campaign
from sbc_helpers import cli
from sbc_helpers.errors import CompareError
from sbc_helpers.report import compare
from report.test_escaping import EVIL_LABEL, live_handlers

@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    base = tmp_path_factory.mktemp("compare")
    return {"baseline": write_campaign(base / "a"),
            "rerun": write_campaign(base / "b", packages={"pymc": "99.0"}),
            "narrow": write_campaign(base / "c", sd_scale=0.5),
            "other_seed": write_campaign(base / "d", seed=2),
            "failing": write_campaign(base / "e", failed=9),
            "other_model": write_campaign(base / "f", model="beta_binomial"),
            "other_unit": write_campaign(base / "g", unit="n"),
            "unranked": write_campaign(base / "j", failed=N),
            # one builder shipped by value by two sbc.calibrate calls, into each call's own folder
            "by_value": write_campaign(base / "h", model=str(base / "h" / "calibrate" / "build.pkl:build")),
            "by_value_again": write_campaign(base / "i", model=str(base / "i" / "calibrate" / "build.pkl:build"))}


def test_a_rerun_is_paired_and_nothing_got_worse(folders, tmp_path, capsys):
    assert cli.main(["compare", str(folders["baseline"]), str(folders["rerun"]), "--output", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("changed: pymc ")
    assert f"paired: {N} common replicates with the same seeds and the same {N} true values" in out
    assert "nothing got worse" in out
    table = pd.read_csv(tmp_path / "compare.csv")
    assert list(table.columns) == compare.COLUMNS
    assert set(table["kind"]) == {"calibration", "failed", "flagged", "seconds_per_fit", "ess_per_second"}
    assert "data:image/png;base64," in (tmp_path / "compare.html").read_text()
    assert not (folders["baseline"] / "m" / "ranks.parquet").exists()  # compare only reads the campaigns


def test_a_too_narrow_posterior_is_worse_and_the_exit_code_is_one(folders, capsys):
    assert cli.main(["compare", str(folders["baseline"]), str(folders["narrow"])]) == 1
    captured = capsys.readouterr()
    assert "m: calibration worse in 1 of 1 quantities: mu" in captured.out
    assert captured.err.strip().startswith("worse: m: mu")
    assert (folders["narrow"] / "compare" / "compare.csv").is_file()
    # the same change does not count when only failures are asked about
    assert cli.main(["compare", str(folders["baseline"]), str(folders["narrow"]), "--fail-on", "failures"]) == 0


def test_other_seeds_are_compared_unpaired_and_the_pairing_says_why(folders):
    comparison = compare.compare_campaigns(folders["baseline"], folders["other_seed"])
    assert comparison.units[0].pairing.how.startswith("unpaired: ")
    assert "other seeds" in comparison.units[0].pairing.how
    assert comparison.exit_code() == 0


def test_the_same_builder_from_another_folder_is_the_same_model(folders, capsys):
    assert cli.main(["compare", str(folders["by_value"]), str(folders["by_value_again"])]) == 0
    assert "nothing got worse" in capsys.readouterr().out


def test_more_failed_fits_are_worse(folders):
    comparison = compare.compare_campaigns(folders["baseline"], folders["failing"])
    assert comparison.worse("failures") == ["m"] and comparison.exit_code(("failures",)) == 1
    assert any(line.startswith("m: failed fits 0.0% -> 15.0%") for line in comparison.lines())


def test_a_quantity_the_current_campaign_did_not_rank_is_worse_calibration(folders, capsys):
    assert cli.main(["compare", str(folders["baseline"]), str(folders["unranked"]), "--fail-on", "calibration"]) == 1
    assert "m: calibration worse in 1 of 1 quantities: mu (not ranked now)" in capsys.readouterr().out


def test_bad_input_is_one_line_and_exit_two(folders, tmp_path, capsys):
    cases = [(tmp_path, "not a campaign output folder"), (folders["other_model"], "different models"),
             (folders["other_unit"], "share no model")]
    for current, message in cases:
        assert cli.main(["compare", str(folders["baseline"]), str(current)]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1
    with pytest.raises(CompareError, match="share no model"):
        compare.compare_campaigns(folders["baseline"], folders["other_unit"])
    assert cli.main(["compare", str(folders["baseline"]), str(folders["rerun"]), "--fail-on", "speed"]) == 2


def test_a_calibration_check_counts_a_worse_comparison_as_a_failure(folders):
    from sbc_helpers.api import CalibrationCheck
    from sbc_helpers.report import analysis
    from sbc_helpers.run import store
    from sbc_helpers.run.params import campaign_from

    campaign = campaign_from(store.read_manifest(folders["narrow"]))
    analysis.analyse(folders["narrow"], campaign.unit("m"), campaign)
    check = CalibrationCheck(folder=folders["narrow"], campaign=campaign)
    alone = check.failures  # its own verdict (at 60 replicates the gamma test may not see the U shape)
    comparison = check.compare(folders["baseline"])
    assert comparison.worse("calibration") == ["m: mu"]
    assert check.failures == [*alone, "worse than the baseline: m: mu"] and not check.ok


def test_the_page_shows_a_quantity_named_with_markup_as_text(tmp_path, capsys):
    name = f"mu[{EVIL_LABEL}]"
    baseline, narrow = (write_campaign(tmp_path / f, quantity=name, sd_scale=s) for f, s in (("a", 1.0), ("b", 0.5)))
    assert cli.main(["compare", str(baseline), str(narrow), "--output", str(tmp_path / "out")]) == 1
    assert EVIL_LABEL in capsys.readouterr().out  # the terminal gets the name as it is
    page = (tmp_path / "out" / "compare.html").read_text()
    assert EVIL_LABEL not in page and live_handlers(page) == []
    assert "&lt;img src=x onerror=alert(1)&gt;" in page



def test_a_mistyped_fail_on_is_one_line_before_any_work(folders, tmp_path):
    from sbc_helpers import api
    from sbc_helpers.errors import ParamsError

    with pytest.raises(ParamsError, match=r"fail_on \('failed',\): give one or more of calibration, failures, flags"):
        api.compare_campaigns(folders["baseline"], folders["rerun"], output=tmp_path / "out", fail_on=("failed",))
    assert not (tmp_path / "out").exists()
