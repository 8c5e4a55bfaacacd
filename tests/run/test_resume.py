"""Resuming never mixes two campaigns: an output folder whose replicates were made from other
settings (an edited model file, another prior or sampler setting) is refused in one line, before
any work; changes that do not touch the replicates (workers, replicates, report) resume; --restart
starts over."""

import subprocess
import textwrap

import pandas as pd
import pytest

from outcomes import outcome
from processes import sbc
from sbc_helpers.errors import ResumeRefused
from sbc_helpers.run import claims, store
from sbc_helpers.run.params import campaign_from
from sbc_helpers.run.recompute import record_reranked

DOSE_MODEL = textwrap.dedent("""
    import numpy as np
    import pymc as pm


    def build(design):
        with pm.Model(coords={"patient": np.arange(len(design))}) as model:
            dose = pm.Data("dose", design["dose"].to_numpy(), dims="patient")
            baseline = pm.Normal("baseline", 0, 1)
            slope = pm.HalfNormal("slope", 1)
            pm.Normal("response", baseline + slope * dose, 0.5, observed=np.zeros(len(design)), dims="patient")
        return model
""")

GUESS = textwrap.dedent("""
    import numpy as np


    def posterior(model, rng, draws):
        return {"baseline": rng.normal(0, 1, draws), "slope": np.abs(rng.normal(0, 1, draws))}
""")

PARAMS = """\
name: dose
seed: 5
replicates: 2
rank_draws: 10
make_plots: false
design: doses.csv
models:
  - name: response
    model: dose.py:build
    inference: {method: custom, function: guess.py:posterior, draws: 10, independent_draws: true}
"""


def _campaign(tmp_path, **inference):
    return campaign_from({"name": "c", "seed": 1, "replicates": 2, "design": {"maker": "normal_normal_design",
                                                                              "n_points": 3},
                          "models": [{"name": "m", "model": "normal_normal", "inference": inference}]})


def test_a_changed_setting_is_named_once_a_replicate_finished_and_workers_or_plots_pass(tmp_path):
    folder = tmp_path / "out"
    claims.claim_units(_campaign(tmp_path, method="nuts", target_accept=0.8), folder)
    store.save_replicate(store.unit_dir(folder, "m"), outcome(0, "failed"))
    claims.claim_units(_campaign(tmp_path, method="nuts", target_accept=0.9), folder)  # failed ones run again
    store.save_replicate(store.unit_dir(folder, "m"), outcome(1, "ok"))
    with pytest.raises(ResumeRefused, match=r"m: .* \(inference.target_accept: 0.9 -> 0.8\)"):
        claims.claim_units(_campaign(tmp_path, method="nuts", target_accept=0.8), folder)
    claims.claim_units(_campaign(tmp_path, method="nuts", target_accept=0.9).model_copy(
        update={"make_plots": False, "replicates": 10}), folder)


def test_a_recompute_with_a_derived_quantity_lets_the_next_run_with_it_resume(tmp_path):
    campaign = _campaign(tmp_path, method="nuts")
    folder = tmp_path / "out"
    claims.claim_units(campaign, folder)
    store.save_replicate(store.unit_dir(folder, "m"), outcome(0, "ok"))
    derived = campaign.model_copy(update={"derived": {"twice": "2 * mu"}})
    with pytest.raises(ResumeRefused, match="derived"):
        claims.claim_units(derived, folder)
    record_reranked(folder, derived)
    claims.claim_units(derived, folder)


def _sbc(folder, *args) -> subprocess.CompletedProcess:
    return sbc("run", folder / "dose.yaml", "--output-dir", folder / "out", "--no-report", *args, timeout=600)


@pytest.mark.slow
def test_an_edited_prior_is_refused_a_change_of_workers_resumes_and_restart_starts_over(tmp_path):
    (tmp_path / "dose.py").write_text(DOSE_MODEL)
    (tmp_path / "guess.py").write_text(GUESS)
    (tmp_path / "dose.yaml").write_text(PARAMS)
    pd.DataFrame({"dose": [0.0, 0.5, 1.0, 2.0, 4.0]}).to_csv(tmp_path / "doses.csv", index=False)
    unit = tmp_path / "out" / "dose" / "response"

    first = _sbc(tmp_path, "--workers", "1")
    assert first.returncode == 0, first.stderr[-2000:]
    more = _sbc(tmp_path, "--workers", "2", "--replicates", "3")
    assert more.returncode == 0 and "1 replicates to run, 2 already done" in more.stderr, more.stderr[-2000:]
    kept = {p.name: p.read_bytes() for p in (unit / "replicates").glob("*.json")}

    (tmp_path / "dose.py").write_text(DOSE_MODEL.replace("pm.Normal(\"baseline\", 0, 1)",
                                                         "pm.Normal(\"baseline\", 5, 0.1)"))
    refused = _sbc(tmp_path, "--replicates", "5")
    lines = refused.stderr.strip().splitlines()
    assert refused.returncode == 2 and len(lines) == 1, refused.stderr
    assert "model: dose.py changed" in lines[0] and "--restart" in lines[0], lines[0]
    assert {p.name: p.read_bytes() for p in (unit / "replicates").glob("*.json")} == kept  # nothing touched

    again = _sbc(tmp_path, "--restart")
    assert again.returncode == 0 and "2 replicates to run, 0 already done" in again.stderr, again.stderr[-2000:]
    assert sorted(p.name for p in (unit / "replicates").glob("*.json")) == ["0000.json", "0001.json"]
