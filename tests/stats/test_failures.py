"""Failures mapped to parameters: power when failures depend on a parameter, nominal false alarms
when they do not."""

import numpy as np
import pandas as pd
import pytest

from sbc_helpers.stats.failures import dependence_line, failure_dependence, truth_outcomes


def simulated_truths(rng, n=60, fails=lambda mu, sigma, rng: mu > 1.0, flag_rate=0.0) -> pd.DataFrame:
    """Two independent parameters; a replicate fails by ``fails``, else is flagged at ``flag_rate``."""
    mu, sigma = rng.normal(size=n), np.abs(rng.normal(size=n))
    failed = fails(mu, sigma, rng)
    flagged = ~failed & (rng.random(n) < flag_rate)
    outcome = np.where(failed, "failed", np.where(flagged, "flagged", "clean"))
    return pd.DataFrame({"replicate": np.tile(np.arange(n), 2), "quantity": ["mu"] * n + ["sigma"] * n,
                         "true_value": np.concatenate([mu, sigma]), "outcome": np.tile(outcome, 2),
                         "divergences": 0})


def test_failures_at_high_mu_are_found_with_high_power():
    rng = np.random.default_rng(17)
    tables = [failure_dependence(simulated_truths(rng)).set_index("quantity") for _ in range(200)]
    power = np.mean([t.loc["mu", "depends"] for t in tables])
    assert power > 0.9
    assert all(t.loc["mu", "direction"] == "high" for t in tables if t.loc["mu", "depends"])
    assert np.mean([t.loc["sigma", "depends"] for t in tables]) < 0.1


def test_independent_failures_and_flags_reject_at_most_at_the_nominal_rate():
    rng = np.random.default_rng(18)
    k = 1000
    independent = lambda mu, sigma, rng: rng.random(len(mu)) < 0.2  # noqa: E731
    alarms = [failure_dependence(simulated_truths(rng, fails=independent, flag_rate=0.1))["depends"].any()
              for _ in range(k)]
    rate, se = float(np.mean(alarms)), np.sqrt(0.05 * 0.95 / k)
    assert rate <= 0.05 + 3 * se


def test_too_few_left_out_replicates_give_no_p_value_and_no_sentence():
    rng = np.random.default_rng(3)
    table = failure_dependence(simulated_truths(rng, fails=lambda mu, sigma, rng: mu > 2.5), n_failed=5)
    assert table["p_value"].isna().all() and not table["depends"].any()
    assert (table["n_failed"] == 5).all()
    assert dependence_line(table) == ""


def test_the_sentence_names_the_parameter_and_its_direction():
    rng = np.random.default_rng(4)
    table = failure_dependence(simulated_truths(rng, n=100))
    assert table.iloc[0]["quantity"] == "mu" and table.iloc[0]["p_adjusted"] < 1e-3
    assert dependence_line(table) == "fits fail when mu is high: the verdict does not cover that region"


def test_the_sentence_says_flagged_fits_are_in_the_verdict_and_whether_it_changes_without_them():
    rng = np.random.default_rng(4)
    truths = simulated_truths(rng, n=100)
    flagged = failure_dependence(truths.replace({"outcome": {"failed": "flagged"}}), n_failed=0)
    start = "fits are flagged when mu is high: the verdict includes these fits"
    assert dependence_line(flagged, flagged_change=False) == f"{start}, and does not change without them"
    assert dependence_line(flagged, flagged_change=True) == f"{start}, and changes without them"
    assert dependence_line(flagged) == start  # not computed: every fit is flagged
    truths.loc[truths["replicate"] % 2 == 0, "outcome"] = truths["outcome"].replace({"failed": "flagged"})
    both = failure_dependence(truths)
    assert dependence_line(both, flagged_change=False) == (
        "fits fail or are flagged when mu is high: the verdict leaves out the failed fits and includes the "
        "flagged ones, and does not change without them")


def test_truth_outcomes_join_ranks_failed_truths_and_flags():
    ranks = pd.DataFrame({"replicate": [0, 1], "quantity": "mu", "true_value": [0.1, 0.2]})
    replicates = pd.DataFrame({"replicate": [0, 1, 2, 3], "status": ["ok", "ok", "failed", "failed"],
                               "flags": ["", "divergences", "failed", "failed"], "divergences": [0, 7, None, None]})
    failed = pd.DataFrame({"replicate": [2], "quantity": ["mu"], "true_value": [3.0]})  # 3 failed before its truth
    truths = truth_outcomes(ranks, replicates, failed).set_index("replicate")
    assert truths["outcome"].to_dict() == {0: "clean", 1: "flagged", 2: "failed"}
    assert truths.loc[1, "divergences"] == 7 and truths.loc[2, "true_value"] == 3.0
    table = failure_dependence(truth_outcomes(ranks, replicates, failed), n_failed=2)
    assert table.loc[0, ["n_failed", "n_flagged", "n_ok"]].tolist() == [2, 1, 1]
    assert np.isnan(table.loc[0, "p_value"])


@pytest.mark.parametrize("empty", [pd.DataFrame(columns=["replicate", "status", "flags"])])
def test_no_replicates_no_rows(empty):
    assert failure_dependence(truth_outcomes(pd.DataFrame(), empty, None)).empty
