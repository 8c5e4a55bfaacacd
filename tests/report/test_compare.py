"""``sbc compare`` on campaign folders written as a run writes them (replicate records and ranks),
without fitting: exit 0 when nothing got worse, 1 when calibration or failures did, 2 on bad input,
each with the lines, the page and compare.csv."""

import numpy as np
import pandas as pd
import pytest

from outcomes import archive_for
from sbc_helpers import cli
from sbc_helpers.contract import Outcome, Record, archive_bytes
from sbc_helpers.errors import CompareError
from sbc_helpers.report import compare
from sbc_helpers.run import provenance, store
from sbc_helpers.run.params import Campaign

L, N = 20, 100
ARCHIVE = archive_bytes(archive_for(0))


def write_campaign(folder, name="c", seed=1, sd_scale=1.0, failed=0, model="normal_normal", unit="m",
                   packages=None):
    """A campaign folder of ``N`` replicates of the conjugate normal model ranked among L draws of its
    exact posterior (scaled by ``sd_scale``); the true values come from ``seed`` (the seed in each
    record too), the posterior draws from a stream of their own; the first ``failed`` fail."""
    campaign = Campaign(name=name, seed=seed, replicates=N, rank_draws=L, models=[{"name": unit, "model": model}])
    truths = np.random.default_rng(seed)
    draws = np.random.default_rng([seed, int(sd_scale * 100), failed, len(name)])
    made = provenance.collect(campaign)
    made["packages"].update(packages or {})
    store.write_manifest(folder / name, campaign.model_dump(mode="json"), made)
    unit_dir = store.unit_dir(folder / name, unit)
    for r in range(N):
        mu = truths.normal()
        y = truths.normal(mu, 1)
        if r < failed:
            store.save_replicate(unit_dir, Outcome(Record.failed(r, seed * 1000 + r, "ValueError", "broke")))
            continue
        rank = int((draws.normal(y / 2, sd_scale * np.sqrt(0.5), L) < mu).sum())
        ranks = pd.DataFrame({"replicate": [r], "quantity": ["mu"], "variable": ["mu"], "rank": [rank],
                              "max_rank": [L], "true_value": [mu], "post_mean": [y / 2], "post_sd": [0.7]})
        record = Record.ok(r, seed * 1000 + r, {"divergences": 0, "min_ess_bulk": 400.0},
                           seconds=float(draws.lognormal(0, 0.1)), rank_draws=L)
        store.save_replicate(unit_dir, Outcome(record, notebook="{}", ranks=ranks, draws=ARCHIVE))
    return folder / name


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    base = tmp_path_factory.mktemp("compare")
    return {"baseline": write_campaign(base / "a"),
            "rerun": write_campaign(base / "b", packages={"pymc": "99.0"}),
            "narrow": write_campaign(base / "c", sd_scale=0.5),
            "other_seed": write_campaign(base / "d", seed=2),
            "failing": write_campaign(base / "e", failed=15),
            "other_model": write_campaign(base / "f", model="beta_binomial"),
            "other_unit": write_campaign(base / "g", unit="n")}


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


def test_more_failed_fits_are_worse(folders):
    comparison = compare.compare_campaigns(folders["baseline"], folders["failing"])
    assert comparison.worse("failures") == ["m"] and comparison.exit_code(("failures",)) == 1
    assert any(line.startswith("m: failed fits 0.0% -> 15.0%") for line in comparison.lines())


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
