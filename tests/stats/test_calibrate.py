import itertools

import numpy as np
import pandas as pd
import pytest

from rankdata import binomial_sd, flat_ranks, mixed_frame, ranks_frame, u_shaped_ranks

from sbc_helpers.contract import CALIBRATION, CALIBRATION_COLUMNS
from sbc_helpers.stats import ALPHA
from sbc_helpers.stats import calibrate as cal


# --- PIT values ---------------------------------------------------------------------------------


def test_pit_values_are_in_open_unit_interval_and_jitter_the_rank():
    L = 20
    r = np.r_[np.zeros(50, int), np.full(50, L), np.arange(L + 1)]
    frame = ranks_frame(r, L)
    pit = np.asarray(cal.pit_values(frame, seed=3))
    assert ((pit > 0) & (pit < 1)).all()
    # (r + U) / (L + 1): each PIT value stays in its rank's cell
    np.testing.assert_array_equal(np.floor(pit * (L + 1)).astype(int), r)
    np.testing.assert_array_equal(pit, np.asarray(cal.pit_values(frame, seed=3)))


# --- uniformity p-values ------------------------------------------------------------------------


def test_uniformity_p_value_of_flat_ranks_is_not_small():
    # a perfectly flat histogram must be declared calibrated at the package's ALPHA
    p = cal.uniformity_p_values(ranks_frame(flat_ranks(50, 2), 50))
    assert p.iloc[0] > ALPHA


def test_uniformity_p_value_of_u_shaped_ranks_is_tiny():
    p = cal.uniformity_p_values(ranks_frame(u_shaped_ranks(50, 17), 50))
    assert p.iloc[0] < 1e-6


def test_uniformity_p_values_are_keyed_by_quantity():
    p = cal.uniformity_p_values(mixed_frame())
    assert set(p.index) == {"flat00000", "ushape00000"}
    assert p["flat00000"] > ALPHA > p["ushape00000"]


# --- chi-square ---------------------------------------------------------------------------------


def test_chi2_bins_equal_width_when_L_plus_1_is_divisible():
    edges = cal.chi2_bins(99, 200)
    assert len(edges) == 21  # 20 bins
    np.testing.assert_array_equal(edges, np.arange(0, 101, 5))


def _expected_counts(edges: np.ndarray, max_rank: int, n: int) -> np.ndarray:
    return n * np.diff(edges) / (max_rank + 1)


def test_chi2_bins_fall_back_to_near_equal_bins_when_L_plus_1_is_prime():
    edges = cal.chi2_bins(100, 200)  # 101 is prime
    assert edges[0] == 0 and edges[-1] == 101  # cover ranks 0..100 (histogram edges are [a, b))
    widths = np.diff(edges)
    assert (widths > 0).all()
    assert widths.max() - widths.min() <= 1  # near-equal
    assert len(widths) == 20
    assert (_expected_counts(edges, 100, 200) >= 5).all()


@pytest.mark.parametrize("max_rank, n", [(20, 200), (49, 100), (99, 1000), (100, 500), (255, 60)])
def test_chi2_bins_have_at_least_5_expected_per_bin(max_rank, n):
    edges = cal.chi2_bins(max_rank, n)
    assert edges[0] == 0 and edges[-1] == max_rank + 1
    assert (_expected_counts(edges, max_rank, n) >= 5).all()


@pytest.mark.parametrize("max_rank, n", [(100, 100), (22, 100)])
def test_chi2_bins_fallback_keeps_5_expected_per_bin(max_rank, n):
    edges = cal.chi2_bins(max_rank, n)
    assert (_expected_counts(edges, max_rank, n) >= 5).all()


def test_chi2_p_value_flat_versus_u_shape():
    assert cal.chi2_p_value(flat_ranks(50, 2), 50) > 0.5
    assert cal.chi2_p_value(u_shaped_ranks(50, 17), 50) < 1e-10


# --- gamma --------------------------------------------------------------------------------------


def test_gamma_is_smaller_for_u_shape_than_for_flat_ranks():
    flat = cal.gamma_statistic(flat_ranks(50, 2), 50)
    ushape = cal.gamma_statistic(u_shaped_ranks(50, 17), 50)
    assert 0 <= ushape < flat <= 2
    crit = cal.gamma_critical(102, 50)
    assert ushape < crit < flat


def test_log_gamma_ratio_sign_marks_leaving_the_band():
    table = cal.calibration_table(mixed_frame()).set_index("quantity")
    assert table.loc["flat00000", "log_gamma_ratio"] > 0
    assert table.loc["ushape00000", "log_gamma_ratio"] < 0


def test_gamma_critical_is_cached_and_deterministic():
    assert cal.gamma_critical(100, 50) == cal.gamma_critical(100, 50)
    assert 0 < cal.gamma_critical(100, 50) < 2 * ALPHA


@pytest.mark.parametrize("n, max_rank", [(4, 3), (5, 2), (3, 5), (6, 1)])
def test_gamma_null_cdf_is_exact_against_enumerating_every_rank_sample(n, max_rank):
    # every one of the (L + 1)^n equally likely rank samples, and P(gamma <= g) counted from them
    samples = itertools.product(range(max_rank + 1), repeat=n)
    gammas = np.array([cal.gamma_statistic(np.array(r), max_rank) for r in samples])
    for g in np.unique(gammas):
        assert cal.gamma_null_cdf(g, n, max_rank) == pytest.approx((gammas <= g).mean(), abs=1e-12)


def test_gamma_null_cdf_agrees_with_simulated_uniform_ranks():
    n, max_rank, k = 100, 20, 20_000
    rng = np.random.default_rng(3)
    gammas = np.array([cal.gamma_statistic(rng.integers(0, max_rank + 1, n), max_rank) for _ in range(k)])
    for q in (0.01, 0.05, 0.2, 0.5):
        g = np.quantile(gammas, q)
        simulated = (gammas <= g).mean()
        assert abs(cal.gamma_null_cdf(g, n, max_rank) - simulated) < 3 * binomial_sd(simulated, k)


def test_gamma_critical_is_where_the_p_value_crosses_alpha():
    n, max_rank = 100, 50
    critical = cal.gamma_critical(n, max_rank)
    assert cal.gamma_null_cdf(critical, n, max_rank) >= ALPHA
    below = np.nextafter(critical, 0)
    assert cal.gamma_null_cdf(below, n, max_rank) < ALPHA


def test_small_gamma_p_values_stay_below_their_bonferroni_bound():
    # far tails: the recursion sums the mass that leaves, so tiny p-values keep their digits
    n, max_rank = 200, 100
    rng = np.random.default_rng(5)
    for zeros in (20, 40, 60, 120):
        r = rng.integers(0, max_rank + 1, n)
        r[:zeros] = 0
        gamma = cal.gamma_statistic(r, max_rank)
        p = cal.gamma_p_value(r, max_rank)
        assert 0 < p <= max_rank * gamma
    # past the floor the bound itself is reported
    r = np.zeros(n, dtype=int)
    assert cal.gamma_p_value(r, max_rank) == max_rank * cal.gamma_statistic(r, max_rank) < cal.EXACT_P_FLOOR


def test_one_miscalibrated_quantity_among_hundreds_is_flagged():
    # A simulated null of 4000 campaigns cannot give a p-value below 1/4001, so with more than
    # 200 quantities Holm could never flag one: ranks that are always 0 passed as calibrated.
    n, max_rank, m = 200, 100, 250
    rank_values = np.random.default_rng(1).integers(0, max_rank + 1, size=(m, n))
    rank_values[0] = 0
    table = cal.calibration_table(ranks_frame(rank_values, max_rank)).set_index("quantity")
    assert not table.loc["q00000", "calibrated"]
    assert table["p_adjusted"].idxmin() == "q00000"


# --- Holm ---------------------------------------------------------------------------------------


def test_holm_matches_hand_computed_example():
    p = pd.Series({"a": 0.01, "b": 0.04, "c": 0.03, "d": 0.005})
    # sorted: d 0.005*4=0.02, a 0.01*3=0.03, c 0.03*2=0.06, b 0.04*1=0.04 -> max so far 0.06
    expected = pd.Series({"a": 0.03, "b": 0.06, "c": 0.06, "d": 0.02})
    pd.testing.assert_series_equal(cal.holm(p), expected, check_names=False)


def test_holm_caps_at_one_and_keeps_index_order():
    p = pd.Series([0.5, 0.6, 0.001], index=["x", "y", "z"])
    adjusted = cal.holm(p)
    assert list(adjusted.index) == ["x", "y", "z"]
    np.testing.assert_allclose(adjusted, [1.0, 1.0, 0.003])


# --- calibration table --------------------------------------------------------------------------


def test_calibration_table_columns_and_verdicts():
    table = cal.calibration_table(mixed_frame())
    expected = {"quantity", "variable", "n_replicates", "p_value", "p_adjusted", "chi2_p_value",
                "log_gamma_ratio", "gamma_p_value", "calibrated"}
    assert expected <= set(table.columns)
    row = table.set_index("quantity")
    assert row.loc["flat00000", "n_replicates"] == 102
    assert row.loc["ushape00000", "n_replicates"] == 102
    assert row.loc["flat00000", "variable"] == "flat"
    assert bool(row.loc["flat00000", "calibrated"]) is True
    assert bool(row.loc["ushape00000", "calibrated"]) is False
    # the verdict uses Holm-adjusted gamma p-values across the quantities
    pd.testing.assert_series_equal(
        row["p_adjusted"], cal.holm(row["gamma_p_value"]), check_names=False
    )
    assert (row["p_adjusted"] >= row["gamma_p_value"]).all()
    assert (row["calibrated"] == (row["p_adjusted"] >= cal.ALPHA)).all()


def test_calibration_tables_have_the_contract_columns_empty_or_not():
    tests_only = [c.name for c in CALIBRATION if not c.reading]
    empty = ranks_frame(np.zeros((1, 0), int), 10).iloc[0:0]
    assert cal.calibration_table(empty).empty and list(cal.calibration_table(empty)) == tests_only
    assert list(cal.calibration_report(empty)) == CALIBRATION_COLUMNS
    ranks = mixed_frame().assign(true_value=0.0, post_mean=0.5, post_sd=1.0)
    assert list(cal.calibration_table(ranks)) == tests_only
    assert list(cal.calibration_report(ranks)) == CALIBRATION_COLUMNS


# --- type I error: uniform ranks must be flagged about ALPHA of the time ------------------------

N_REPLICATES, MAX_RANK = 100, 50


def _null_campaigns(k: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, MAX_RANK + 1, size=(k, N_REPLICATES))


def _chunked(frame_fn, rank_values: np.ndarray, chunk: int = 250) -> pd.DataFrame:
    # The uniformity test builds one xarray variable per quantity and slows down superlinearly
    # with thousands of variables; chunks of 250 quantities keep it linear.
    return pd.concat(
        [frame_fn(ranks_frame(rank_values[i : i + chunk], MAX_RANK), seed=i)
         for i in range(0, len(rank_values), chunk)]
    )


@pytest.fixture(scope="module")
def null_table() -> pd.DataFrame:
    """2000 simulated campaigns of uniform ranks (N=100 replicates, L=50, one quantity each)."""
    return _chunked(cal.calibration_table, _null_campaigns(2000, seed=31))


def test_chi2_false_alarm_rate_is_alpha_under_uniform_ranks(null_table):
    k = len(null_table)
    assert k == 2000
    rate = (null_table["chi2_p_value"] < ALPHA).mean()
    # rate ~ Binomial(k, 0.05) / k: 3 binomial SDs (~0.015) around 0.05
    assert abs(rate - ALPHA) < 3 * binomial_sd(ALPHA, k)


def test_gamma_false_alarm_rate_is_alpha_under_uniform_ranks(null_table):
    k = len(null_table)
    rate = (null_table["log_gamma_ratio"] < 0).mean()
    # gamma is discrete, so its exact 5% test is slightly conservative: 3 binomial SDs (~0.015)
    # above, and that plus 0.01 below
    sd = binomial_sd(ALPHA, k)
    assert ALPHA - 3 * sd - 0.01 <= rate <= ALPHA + 3 * sd


def test_log_gamma_ratio_below_zero_is_exactly_a_gamma_p_value_below_alpha(null_table):
    pd.testing.assert_series_equal(null_table["log_gamma_ratio"] < 0, null_table["gamma_p_value"] < ALPHA,
                                   check_names=False)


def test_uniformity_p_value_rejects_uniform_ranks_rarely(null_table):
    # Guard against gross breakage (e.g. raw ranks fed to the test give p ~ 0 for every
    # campaign): the false alarm rate must stay below 2 * ALPHA. Its exact level is checked,
    # and found wanting, by the pot_c test below.
    rate = (null_table["p_value"] < ALPHA).mean()
    assert rate < 2 * ALPHA


def test_arviz_pot_c_over_rejects_uniform_ranks_so_the_verdict_does_not_use_it():
    # Documents why the verdict rests on gamma: over 10_000 null campaigns (binomial SD of the rate
    # 0.0022) ArviZ's pot_c rejects at 0.062-0.070 for N=100, above 0.05 + 3 SD = 0.0565.
    k = 10_000
    p_values = _chunked(
        lambda frame, seed: cal.uniformity_p_values(frame, seed).to_frame(),
        _null_campaigns(k, seed=47),
    )["p_value"]
    assert (p_values < ALPHA).mean() > ALPHA + 3 * binomial_sd(ALPHA, k)


def test_verdict_false_alarm_rate_is_alpha_under_uniform_ranks(null_table):
    # A one-quantity campaign is flagged when its gamma p-value is below alpha (Holm changes
    # nothing for one quantity; null_table packs campaigns as rows, so read the raw p-value).
    # Tolerance: 3 SDs of the campaigns' binomial error (the p-value itself is exact).
    k = len(null_table)
    rate = (null_table["gamma_p_value"] < ALPHA).mean()
    sd = binomial_sd(ALPHA, k)
    assert rate <= ALPHA + 3 * sd
    assert rate >= ALPHA - 3 * sd - 0.01  # gamma is discrete, so its p-value is slightly conservative


# --- quantities constant by construction ----------------------------------------------------------


def _constant_frame() -> pd.DataFrame:
    """Three replicates of a correlation matrix's elements: the diagonal is 1 in every prior draw
    (one element with a rounding error), the off-diagonal element and a zero-sd one vary."""
    return pd.DataFrame({
        "replicate": [0, 1, 2] * 4,
        "quantity": ["corr[0, 0]"] * 3 + ["corr[1, 1]"] * 3 + ["corr[0, 1]"] * 3 + ["zero"] * 3,
        "true_value": [1.0, 1.0, 1.0, 1.0, np.nextafter(1.0, 0.0), 1.0, 0.3, -0.1, 0.5, 0.0, 0.0, 0.0],
        "post_mean": [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.1, 0.0, 0.4, 0.0, 0.0, 0.0],
        "post_sd": [0.0, 0.0, 0.0, 1e-16, 1e-16, 1e-16, 0.2, 0.2, 0.2, 0.0, 0.0, 0.0],
    })


def test_constant_quantities_are_those_whose_truth_and_posterior_never_change():
    frame = _constant_frame()
    assert cal.constant_quantities(frame) == ["corr[0, 0]", "corr[1, 1]", "zero"]
    assert cal.constant_quantities(frame.loc[frame["replicate"] == 0]) == []  # one replicate decides nothing


def test_a_constant_truth_with_a_spread_posterior_stays_tested_and_is_flagged():
    # a simulator that fixes sigma at 1 while the model gives it a prior: the true value never
    # changes, the posteriors do, and the ranks (all near L / 2 here) are far from uniform
    rng = np.random.default_rng(5)
    n, L = 200, 99
    frame = pd.DataFrame({"replicate": np.arange(n), "quantity": "sigma", "variable": "sigma",
                          "rank": rng.integers(40, 60, n), "max_rank": L, "true_value": 1.0,
                          "post_mean": rng.normal(1.0, 0.05, n), "post_sd": 0.1})
    assert cal.constant_quantities(frame) == []
    assert not cal.calibration_table(frame).set_index("quantity").loc["sigma", "calibrated"]


def test_worst_replicate_of_a_point_posterior_is_where_it_misses_the_truth():
    frame = _constant_frame()
    frame.loc[(frame["quantity"] == "zero") & (frame["replicate"] == 1), "true_value"] = 0.5
    worst = cal.worst_replicates(frame)
    assert worst["zero"] == 1  # 0.5 away from a posterior of sd 0: infinitely far
    assert worst["corr[0, 1]"] == 0  # |0.3 - 0.1| / 0.2 = 1 beats 0.5 and 0.5
    assert set(worst.index) == set(frame["quantity"])
