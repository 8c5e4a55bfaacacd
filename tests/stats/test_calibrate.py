import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rankdata import flat_ranks, mixed_frame, ranks_frame, u_shaped_ranks

from sbc_helpers.contract import CALIBRATION, CALIBRATION_COLUMNS
from sbc_helpers.stats import calibrate as cal

ALPHA = cal.ALPHA  # 0.05



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


def test_pit_dataset_has_one_variable_per_quantity_in_replicate_order():
    L = 10
    frame = ranks_frame(np.array([[3, 1, 4, 1, 5], [9, 2, 6, 5, 3]]), L)
    frame = frame.sample(frac=1, random_state=0)  # row order must not matter
    ds = cal.pit_dataset(frame)
    assert set(ds.data_vars) == {"q00000", "q00001"}
    assert dict(ds["q00000"].sizes) == {"chain": 1, "draw": 5}
    np.testing.assert_array_equal(np.floor(ds["q00000"].to_numpy()[0] * (L + 1)), [3, 1, 4, 1, 5])
    np.testing.assert_array_equal(np.floor(ds["q00001"].to_numpy()[0] * (L + 1)), [9, 2, 6, 5, 3])


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


def ranks_from_counts_below(below: np.ndarray, n: int, rng) -> np.ndarray:
    """Ranks 0..L whose counts below each i = 1..L are ``below`` (nondecreasing, at most n)."""
    counts = np.diff(np.concatenate([[0], below, [n]]))
    return rng.permutation(np.repeat(np.arange(len(counts)), counts))


def extreme_passing_ranks(n: int, max_rank: int, n_quantities: int, narrow: bool) -> tuple[np.ndarray, int, int]:
    """Ranks whose central-interval coverage is the lowest (``narrow``) or highest that still passes."""
    i1 = round((max_rank + 1) / 4)
    i2 = max_rank + 1 - i1
    critical = cal.gamma_critical(n, max_rank, ALPHA / n_quantities)
    lows, highs = cal._interval_ends(cal._pointwise(n, max_rank) >= critical)
    below = np.clip(np.round(n * np.arange(1, max_rank + 1) / (max_rank + 1)).astype(int), lows, highs)
    # pin the interval's ends where its coverage is most extreme; every count stays in its band
    start, end = (highs[i1 - 1], lows[i2 - 1]) if narrow else (lows[i1 - 1], highs[i2 - 1])
    below[:i1] = np.minimum(below[:i1], start)
    below[i1:i2 - 1] = np.clip(below[i1:i2 - 1], start, end)
    below[i2 - 1:] = np.maximum(below[i2 - 1:], end)
    below[i1 - 1], below[i2 - 1] = start, end
    return ranks_from_counts_below(below, n, np.random.default_rng(0)), i1, i2


@pytest.mark.parametrize("narrow", [True, False])
@pytest.mark.parametrize("n, max_rank, n_quantities", [(200, 99, 1), (200, 100, 16), (500, 49, 4)])
def test_undetected_coverage_is_the_edge_between_passing_and_sure_to_be_flagged(n, max_rank, n_quantities, narrow):
    nominal, low, high = cal.undetected_coverage(n, max_rank, n_quantities)
    assert low < nominal < high
    ranks, i1, i2 = extreme_passing_ranks(n, max_rank, n_quantities, narrow)
    inside = ((ranks >= i1) & (ranks < i2)).mean()
    assert inside == pytest.approx(low if narrow else high)
    # at the edge the quantity passes, even alone among n_quantities
    assert cal.gamma_p_value(ranks, max_rank) * n_quantities >= ALPHA
    # one rank more outside (narrow) or inside (wide) the interval, and it is flagged
    moved = ranks.copy()
    if narrow:
        moved[np.flatnonzero((ranks >= i1) & (ranks < i2))[0]] = 0
    else:
        moved[np.flatnonzero(ranks < i1)[0]] = i1
    assert cal.gamma_p_value(moved, max_rank) * n_quantities < ALPHA


def test_undetected_coverage_narrows_with_more_replicates_and_widens_with_more_quantities():
    _, low, high = cal.undetected_coverage(200, 100, 16)
    _, low4, high4 = cal.undetected_coverage(800, 100, 16)
    _, low_m, high_m = cal.undetected_coverage(200, 100, 160)
    assert low < low4 and high4 < high
    assert low_m <= low and high <= high_m


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


def binomial_sd(p: float, n: int) -> float:
    return np.sqrt(p * (1 - p) / n)


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


# --- plotting bands -----------------------------------------------------------------------------


@pytest.mark.parametrize("n, n_bins", [(100, 10), (200, 20), (50, 7), (1000, 20)])
def test_histogram_band_contains_the_expected_count(n, n_bins):
    low, high = cal.histogram_band(n, n_bins)
    assert low < n / n_bins < high
    # the band is the binomial central 99% interval: at most 0.5% mass beyond each end
    dist = stats.binom(n, 1 / n_bins)
    assert dist.cdf(low - 1) <= 0.005
    assert dist.sf(high) <= 0.005


def test_rank_histogram_counts_every_rank_once():
    r = flat_ranks(99, 3)
    counts, edges = cal.rank_histogram(r, 99, 20)
    assert counts.sum() == len(r)
    np.testing.assert_array_equal(counts, 15)  # 5 rank values x 3 copies per bin
    assert edges[0] == 0 and edges[-1] == 100


@pytest.mark.parametrize(
    "n, max_rank, bins", [(100, 50, 10), (1000, 100, 20), (100, 4, 5), (10, 50, 2), (40, 50, 4)]
)
def test_default_bins(n, max_rank, bins):
    assert cal.default_bins(n, max_rank) == bins


def test_ecdf_band_brackets_zero():
    x, lower, upper = cal.ecdf_band(100)
    assert x[0] == 0 and x[-1] == 1
    assert (lower <= 0).all() and (upper >= 0).all()
    interior = (x > 0) & (x < 1)
    assert (lower[interior] < 0).all()
    assert (upper[interior] > 0).all()


def test_ecdf_band_simultaneous_coverage_of_uniform_ecdfs():
    # The band should contain the whole ECDF difference of n uniform PIT values with probability
    # prob. Two Monte Carlo errors: the band's own adjustment from 1000 simulations and our 4000
    # simulated ECDFs; 3 SDs of their combined binomial error is the tolerance (~0.011).
    n, prob, k = 100, 0.99, 4000
    x, lower, upper = cal.ecdf_band(n, prob)
    u = np.sort(np.random.default_rng(8).uniform(size=(k, n)), axis=1)
    ecdf = np.stack([np.searchsorted(row, x, side="right") for row in u]) / n
    diff = ecdf - x
    inside = ((diff >= lower - 1e-12) & (diff <= upper + 1e-12)).all(axis=1)
    sd = np.hypot(binomial_sd(prob, 1000), binomial_sd(prob, k))
    assert abs(inside.mean() - prob) < 3 * sd


# --- coverage -----------------------------------------------------------------------------------


def test_coverage_of_uniform_pit_is_close_to_the_width():
    L, copies = 99, 20  # 2000 perfectly flat ranks over 0..99
    frame = ranks_frame(flat_ranks(L, copies), L)
    table = cal.coverage(frame)
    assert list(table.columns) == ["variable", "width", "coverage", "lower", "upper"]
    np.testing.assert_allclose(table["width"], np.linspace(0.05, 0.95, 19))
    n = len(frame)
    for _, row in table.iterrows():
        # flat ranks leave only the PIT jitter: well within 3 binomial SDs of the width
        assert abs(row["coverage"] - row["width"]) < 3 * binomial_sd(row["width"], n)
        assert 0 <= row["lower"] <= row["coverage"] <= row["upper"] <= 1
        assert row["upper"] - row["lower"] < 0.05  # 2000 replicates: a tight interval
    assert table["coverage"].is_monotonic_increasing


def test_coverage_intervals_stay_in_0_1_and_contain_the_width_when_calibrated():
    rng = np.random.default_rng(12)
    L = 20
    frame = ranks_frame(rng.integers(0, L + 1, size=(3, 150)), L)  # three calibrated elements
    frame["variable"] = "theta"  # pooled over a variable's elements
    table = cal.coverage(frame, widths=np.array([0.1, 0.5, 0.8, 0.9]))
    assert list(table["variable"]) == ["theta"] * 4
    assert ((table["lower"] >= 0) & (table["upper"] <= 1) & (table["lower"] < table["upper"])).all()
    inside = (table["lower"] <= table["width"]) & (table["width"] <= table["upper"])
    assert inside.all(), table


def test_coverage_of_an_overconfident_posterior_falls_short():
    L = 50
    frame = ranks_frame(u_shaped_ranks(L, 17), L)
    table = cal.coverage(frame, widths=np.array([0.5, 0.8]))
    assert (table["upper"] < table["width"]).all()  # true values fall outside the central intervals


def test_coverage_one_block_of_widths_per_variable():
    L = 10
    frame = pd.concat([ranks_frame(np.arange(11), L, prefix="a"), ranks_frame(np.arange(11), L, prefix="b")])
    table = cal.coverage(frame, widths=np.array([0.2, 0.6]))
    assert list(table["variable"]) == ["a", "a", "b", "b"]
    assert list(table["width"]) == [0.2, 0.6, 0.2, 0.6]


def test_coverage_interval_contains_the_estimate_at_the_extremes():
    L = 20
    edges = ranks_frame(np.r_[np.zeros(50, int), np.full(50, L)], L)  # every truth outside the middle
    table = cal.coverage(edges, widths=np.array([0.1, 0.99999]))
    assert ((table["lower"] <= table["coverage"]) & (table["coverage"] <= table["upper"])).all(), table


# --- z-scores and contraction -------------------------------------------------------------------


def test_zscore_contraction_columns_by_hand():
    frame = pd.DataFrame({
        "replicate": [0, 1, 2, 0, 1, 2],
        "quantity": ["a", "a", "a", "b", "b", "b"],
        "true_value": [1.0, 2.0, 3.0, 0.0, 10.0, 20.0],
        "post_mean": [1.5, 2.0, 2.0, 0.0, 12.0, 20.0],
        "post_sd": [0.5, 1.0, 0.5, 1.0, 4.0, 5.0],
    })
    out = cal.zscore_contraction(frame)
    assert list(out.columns) == [*frame.columns, "zscore", "contraction"]
    pd.testing.assert_frame_equal(out[frame.columns], frame)  # the input columns untouched
    np.testing.assert_allclose(out["zscore"], [-1.0, 0.0, 2.0, 0.0, -0.5, 0.0])
    # prior variance from each quantity's true values across replicates: a -> 1, b -> 100
    np.testing.assert_allclose(out["contraction"], [0.75, 0.0, 0.75, 0.99, 0.84, 0.75])


def test_zscores_of_an_exact_posterior_are_standard_normal_and_contraction_matches():
    # mu ~ N(0, 1), 10 observations y_i ~ N(mu, 1): posterior N(sum(y) / 11, 1 / 11)
    rng = np.random.default_rng(2023)
    n_rep, n_obs = 4000, 10
    mu = rng.normal(size=n_rep)
    y_sum = rng.normal(mu[:, None], 1, size=(n_rep, n_obs)).sum(axis=1)
    frame = pd.DataFrame({"replicate": np.arange(n_rep), "quantity": "mu", "variable": "mu",
                          "true_value": mu, "post_mean": y_sum / (n_obs + 1),
                          "post_sd": np.sqrt(1 / (n_obs + 1))})
    out = cal.zscore_contraction(frame)
    assert abs(out["zscore"].mean()) < 4 / np.sqrt(n_rep)
    assert out["zscore"].std() == pytest.approx(1, abs=0.05)
    assert out["contraction"].mean() == pytest.approx(1 - 1 / (n_obs + 1), abs=0.01)


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
