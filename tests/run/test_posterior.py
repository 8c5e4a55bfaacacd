"""Posterior SBC through the real ``sbc run``: conditional on a data file, NUTS is judged
calibrated and mean-field ADVI flagged on a correlated regression, the exact posterior passes, and
the reference posterior is fitted once and reused; in process, the reference is sized to the
campaign: extended when too small for its replicates, or refused, never reused as it is; and the
exact posterior of a model with dims and data containers passes."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import pymc as pm
import xarray as xr

import clinics
from processes import sbc
from sbc_helpers import api
from sbc_helpers.contract import read_archive
from sbc_helpers.errors import ParamsError
from sbc_helpers.report.tables import reference_line
from sbc_helpers.run import posterior
from sbc_helpers.run.params import load_campaign
from sbc_helpers.run.steps import Built, run_replicate
from sbc_helpers.simulation.conditioning import Conditioning, concatenate
from sbc_helpers.stats.calibrate import calibration_table

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
    done = sbc("run", folder / "campaign.yaml", "--output-dir", tmp_path / "out")
    assert done.returncode == 2 and "give one or the other" in done.stderr and len(done.stderr.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    folder = _copy(tmp_path_factory.mktemp("psbc"))
    done = sbc("run", folder / "campaign.yaml", "--replicates", "12", "--output-dir", folder / "out", "--workers", "1",
               timeout=1800)
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
    assert "Posterior SBC conditional on heights.csv" in summary and "Reference posterior: ESS" in summary
    assert all(_verdict(folder, u)["reference"]["ratio"] >= 20 for u in ("level", "growth-nuts"))


@pytest.mark.slow
def test_the_reference_is_reused_and_refused_once_the_data_change(campaign):
    folder, _ = campaign
    again = sbc("run", folder / "campaign.yaml", "--replicates", "13", "--output-dir", folder / "out", "--no-report",
                timeout=1800)
    assert again.returncode == 0 and "fitting the reference" not in again.stderr, again.stderr[-2000:]
    heights = pd.read_csv(folder / "heights.csv")
    (folder / "heights.csv").write_text(heights.assign(height=heights["height"] + 1).to_csv(index=False))
    changed = sbc("run", folder / "campaign.yaml", "--output-dir", folder / "out", timeout=600)
    assert changed.returncode == 2 and "conditional_on.data: heights.csv changed" in changed.stderr, changed.stderr


def test_a_posterior_campaign_reads_back_from_its_manifest():
    from sbc_helpers.run.params import campaign_from, dump, load_campaign

    campaign = load_campaign(EXAMPLE / "campaign.yaml")
    again = campaign_from(dump(campaign), "manifest")
    assert again.models[1].conditional_on == "heights.csv" and again.models[1].reference_settings.method == "nuts"
    plain = campaign_from({**dump(campaign), "models": [{"name": "m", "model": "normal_normal"}]}, "manifest")
    assert plain.models[0].reference_inference is None


def _exact_level(replicates: int):
    """The example's exact-posterior model alone (its reference: 1000 exact draws)."""
    campaign = load_campaign(EXAMPLE / "campaign.yaml", replicates=replicates)
    return campaign.model_copy(update={"models": campaign.models[:1]})


def test_a_reference_far_smaller_than_the_campaign_is_extended_and_kept_for_earlier_replicates(tmp_path):
    campaign = _exact_level(200)  # needs ESS 20 x 200 = 4000 of the 1000 draws the reference settings give
    path = posterior.prepare(campaign, tmp_path)["level"]
    first = read_archive(path)
    assert first.attrs["ess"] >= 4000 and first.attrs["fits"] == 2 and first.sizes["draw"] >= 4000
    summary = posterior.reference_summary(tmp_path, campaign.models[0], 200)
    assert summary["ratio"] >= 20 and summary["fits"] == 2
    assert f"Reference posterior: ESS {summary['ess']:.0f} ({summary['ratio']:.1f} per replicate)" in reference_line(summary)
    assert len(np.unique(first["mu"])) == first.sizes["draw"]
    written = path.stat().st_mtime_ns
    posterior.prepare(_exact_level(150), tmp_path)  # enough already: reused as it is
    assert path.stat().st_mtime_ns == written
    posterior.prepare(_exact_level(300), tmp_path)  # resumed with more replicates: extended after its draws
    more = read_archive(path)
    assert more.attrs["ess"] >= 6000 and more.attrs["fits"] == 3
    np.testing.assert_array_equal(more["mu"][:first.sizes["draw"]], first["mu"])


def _stub(ess_per_draw: float, scalars: int = 1, chains: int = 2, draws: int = 1000):
    """A reference fit for ``size_reference``: ``chains`` x ``draws`` draws (or as many per chain as
    asked) with ESS ``ess_per_draw`` per draw; the draws per chain it was asked for are kept."""
    asked = []

    def fit(part, per_chain):
        asked.append(per_chain)
        n = chains * (per_chain or draws)
        pool = xr.Dataset({"theta": (("draw", "k"), np.zeros((int(n * ess_per_draw), scalars)))})
        return pool, n * ess_per_draw, n, False
    return fit, asked


def test_an_extension_is_sized_from_the_measured_ess():
    fit, asked = _stub(0.1)
    reference = posterior.size_reference("m", 100, 20, fit, chains=2)
    # ESS 200 of 2 x 1000 draws, 2000 needed: 1800 more at 0.1 per draw, with the margin of 1.25
    assert asked == [None, 11250] and reference.attrs["ess"] >= 2000 and reference.attrs["fits"] == 2


@pytest.mark.parametrize("ess_per_draw, scalars", [(0.001, 1000), (None, 1)])
def test_a_reference_that_cannot_be_sized_stops_with_one_line(ess_per_draw, scalars):
    if ess_per_draw is None:  # a fit whose ESS does not grow with its draws: extensions never catch up
        def fit(part, per_chain):
            return xr.Dataset({"theta": (("draw",), np.zeros(10))}), 10.0, 2000, False
    else:  # so slow a sampler that the draws needed would not fit in memory
        fit, _ = _stub(ess_per_draw, scalars)
    with pytest.raises(ParamsError) as raised:
        posterior.size_reference("growth", 1000, 20, fit, chains=2)
    message = str(raised.value)
    assert "\n" not in message and message.startswith("growth: the reference posterior's ESS is")
    assert "1000 replicates need 20000 (reference_ess_ratio 20)" in message and "fewer replicates" in message


def test_posterior_sbc_of_a_model_with_dims_and_data_passes_with_the_exact_posterior():
    # y' drawn from θ' on a new design with more rows, fitted exactly given y and y': every quantity,
    # the log-likelihood of y' too, has uniform ranks (with θ' redrawn from the prior, none has)
    observed_design = clinics.design(2)
    design = concatenate(observed_design, clinics.design(20))
    observed = np.array([3.1, 2.4, -1.0, -0.2, 0.8, 1.5])
    reference = clinics.posterior(pm.observe(clinics.model(observed_design), {"visits": observed}),
                                  np.random.default_rng(1), 4000)
    built = Built(design=design, model=clinics.model(design), description="",
                  conditioning=Conditioning(observed={"visits": observed}, rows=len(observed_design), design=design,
                                            reference=xr.Dataset({"a": (("draw", "clinic"), reference["a"])}),
                                            source="visits.csv"))
    settings = {"method": "exact", "function": f"{clinics.__file__}:posterior", "draws": 19}
    ranks = pd.concat([run_replicate(built, i, 1000 + i, settings, rank_draws=19).ranks for i in range(40)])
    table = calibration_table(ranks)
    assert set(table["quantity"]) == {"a[north]", "a[east]", "a[south]", "log_lik"}
    assert table["calibrated"].all(), table[["quantity", "gamma_p_value"]]
