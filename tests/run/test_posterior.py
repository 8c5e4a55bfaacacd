"""Posterior SBC through the real ``sbc run``: conditional on a data file, NUTS is judged
calibrated and mean-field ADVI flagged on a correlated regression, the exact posterior passes, and
the reference posterior is fitted once and reused."""

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from processes import SBC
from sbc_helpers import api
from sbc_helpers.errors import ParamsError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "posterior"


def _copy(tmp_path) -> Path:
    folder = tmp_path / "posterior"
    shutil.copytree(EXAMPLE, folder)
    return folder


def test_a_data_file_without_the_observed_variable_stops_the_preflight(tmp_path):
    folder = _copy(tmp_path)
    pd.DataFrame({"weight": range(30)}).to_csv(folder / "heights.csv", index=False)
    with pytest.raises(ParamsError, match=r"models\.1 \(growth\)\.model: conditional_on: heights.csv has no column 'height'"):
        api.check_campaign(folder / "campaign.yaml")


def test_a_simulator_cannot_go_with_conditional_on(tmp_path):
    folder = _copy(tmp_path)
    text = (folder / "campaign.yaml").read_text().replace("    conditional_on: heights.csv\n",
                                                          "    conditional_on: heights.csv\n    simulator: models.py:growth\n")
    (folder / "campaign.yaml").write_text(text)
    done = subprocess.run([*SBC, "run", folder / "campaign.yaml", "--output-dir", tmp_path / "out"],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "give one or the other" in done.stderr and len(done.stderr.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    folder = _copy(tmp_path_factory.mktemp("psbc"))
    done = subprocess.run([*SBC, "run", folder / "campaign.yaml", "--replicates", "12", "--output-dir",
                           folder / "out"], capture_output=True, text=True, timeout=1800)
    return folder, done


def _verdict(folder: Path, unit: str) -> dict:
    return json.loads((folder / "out" / "posterior" / unit / "verdict.json").read_text())


@pytest.mark.slow
def test_nuts_calibrated_and_advi_flagged_conditional_on_the_data(campaign):
    folder, done = campaign
    assert done.returncode == 0, done.stderr[-2000:]
    assert "fitting the reference posterior to heights.csv" in done.stderr
    assert _verdict(folder, "growth-nuts")["calibrated"] and _verdict(folder, "level")["calibrated"]
    advi = _verdict(folder, "growth-advi")
    assert not advi["calibrated"] and {"b_dose", "b_age"} & set(advi["worst"][:2])
    assert all(_verdict(folder, u)["done"] == 12 for u in ("level", "growth-nuts", "growth-advi"))
    index = (folder / "out" / "posterior" / "index.html").read_text()
    assert index.count("posterior SBC | heights.csv") == 2 and "posterior SBC | readings.csv" in index
    summary = (folder / "out" / "posterior" / "growth-nuts" / "summary.html").read_text()
    assert "Posterior SBC conditional on heights.csv" in summary


@pytest.mark.slow
def test_the_reference_is_reused_and_refused_once_the_data_change(campaign):
    folder, _ = campaign
    again = subprocess.run([*SBC, "run", folder / "campaign.yaml", "--replicates", "13", "--output-dir",
                            folder / "out", "--no-report"], capture_output=True, text=True, timeout=1800)
    assert again.returncode == 0 and "fitting the reference" not in again.stderr, again.stderr[-2000:]
    heights = pd.read_csv(folder / "heights.csv")
    (folder / "heights.csv").write_text(heights.assign(height=heights["height"] + 1).to_csv(index=False))
    changed = subprocess.run([*SBC, "run", folder / "campaign.yaml", "--output-dir", folder / "out"],
                             capture_output=True, text=True, timeout=600)
    assert changed.returncode == 2 and "reference posterior was fitted" in changed.stderr


def test_a_posterior_campaign_reads_back_from_its_manifest():
    from sbc_helpers.run.params import campaign_from, dump, load_campaign

    campaign = load_campaign(EXAMPLE / "campaign.yaml")
    again = campaign_from(dump(campaign), "manifest")
    assert again.models[1].conditional_on == "heights.csv" and again.models[1].reference_settings.method == "nuts"
    plain = campaign_from({**dump(campaign), "models": [{"name": "m", "model": "normal_normal"}]}, "manifest")
    assert plain.models[0].reference_inference is None
