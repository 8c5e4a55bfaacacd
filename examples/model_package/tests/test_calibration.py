"""The package's calibration, checked by SBC in its own test suite: the exact posterior must pass,
and a posterior that forgets the exposure must not."""

import numpy as np

import sbc_helpers as sbc
from claims_model import PRIOR, build, exact_posterior, load_policies
from claims_model.model import observed

TINY = {"replicates": 20, "rank_draws": 19, "make_plots": False, "workers": 1, "log_likelihood": False}
"""A few seconds of fits: exact draws, no figures; sequential stopping (the default) ends the broken
unit as soon as its verdict is sure."""


def posterior_without_exposure(model, rng, draws):
    """A bug to catch: every policy counted as one year."""
    region = model["region_idx"].get_value()
    claims = observed(model, "claims")
    n = len(model.coords["region"])
    shape = PRIOR["alpha"] + np.bincount(region, weights=claims, minlength=n)
    rate = PRIOR["beta"] + np.bincount(region, minlength=n)
    return {"claim_rate": rng.gamma(shape, 1 / rate, size=(draws, n))}


def test_the_claim_rates_are_calibrated_and_a_forgotten_exposure_is_caught(tmp_path):
    check = sbc.check_calibration(build, load_policies(), output_dir=tmp_path, name="claims",
                                  inference=[{"method": "exact", "function": exact_posterior, "draws": 19,
                                              "label": "exact"},
                                             {"method": "exact", "function": posterior_without_exposure,
                                              "draws": 19, "label": "no_exposure"}], **TINY)
    verdict = check.verdict
    assert verdict["build-exact"]["calibrated"], check.failures
    assert not verdict["build-no_exposure"]["calibrated"]
    assert check.failures == [f"build-no_exposure: {verdict['build-no_exposure']['verdict']}"]
    assert set(check.table["quantity"]) == {"claim_rate[north]", "claim_rate[south]", "claim_rate[west]"}
