"""What the plots draw: PIT values as ArviZ reads them, histogram and ECDF bands, coverage of
central intervals, z-scores and contraction."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rankdata import binomial_sd, flat_ranks, ranks_frame, u_shaped_ranks

from sbc_helpers.stats import plot_data


def test_pit_dataset_has_one_variable_per_quantity_in_replicate_order():
    L = 10
    frame = ranks_frame(np.array([[3, 1, 4, 1, 5], [9, 2, 6, 5, 3]]), L)
    frame = frame.sample(frac=1, random_state=0)  # row order must not matter
    ds = plot_data.pit_dataset(frame)
    assert set(ds.data_vars) == {"q00000", "q00001"}
    assert dict(ds["q00000"].sizes) == {"chain": 1, "draw": 5}
    np.testing.assert_array_equal(np.floor(ds["q00000"].to_numpy()[0] * (L + 1)), [3, 1, 4, 1, 5])
    np.testing.assert_array_equal(np.floor(ds["q00001"].to_numpy()[0] * (L + 1)), [9, 2, 6, 5, 3])


# --- plotting bands -----------------------------------------------------------------------------


@pytest.mark.parametrize("n, n_bins", [(100, 10), (200, 20), (50, 7), (1000, 20)])
def test_histogram_band_contains_the_expected_count(n, n_bins):
    low, high = plot_data.histogram_band(n, n_bins)
    assert low < n / n_bins < high
    # the band is the binomial central 99% interval: at most 0.5% mass beyond each end
    dist = stats.binom(n, 1 / n_bins)
    assert dist.cdf(low - 1) <= 0.005
    assert dist.sf(high) <= 0.005


def test_rank_histogram_counts_every_rank_once():
    r = flat_ranks(99, 3)
    counts, edges = plot_data.rank_histogram(r, 99, 20)
    assert counts.sum() == len(r)
    np.testing.assert_array_equal(counts, 15)  # 5 rank values x 3 copies per bin
    assert edges[0] == 0 and edges[-1] == 100


@pytest.mark.parametrize(
    "n, max_rank, bins", [(100, 50, 10), (1000, 100, 20), (100, 4, 5), (10, 50, 2), (40, 50, 4)]
)
def test_default_bins(n, max_rank, bins):
    assert plot_data.default_bins(n, max_rank) == bins


def test_ecdf_band_brackets_zero():
    x, lower, upper = plot_data.ecdf_band(100)
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
    x, lower, upper = plot_data.ecdf_band(n, prob)
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
    table = plot_data.coverage(frame)
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
    table = plot_data.coverage(frame, widths=np.array([0.1, 0.5, 0.8, 0.9]))
    assert list(table["variable"]) == ["theta"] * 4
    assert ((table["lower"] >= 0) & (table["upper"] <= 1) & (table["lower"] < table["upper"])).all()
    inside = (table["lower"] <= table["width"]) & (table["width"] <= table["upper"])
    assert inside.all(), table


def test_coverage_of_an_overconfident_posterior_falls_short():
    L = 50
    frame = ranks_frame(u_shaped_ranks(L, 17), L)
    table = plot_data.coverage(frame, widths=np.array([0.5, 0.8]))
    assert (table["upper"] < table["width"]).all()  # true values fall outside the central intervals


def test_coverage_one_block_of_widths_per_variable():
    L = 10
    frame = pd.concat([ranks_frame(np.arange(11), L, prefix="a"), ranks_frame(np.arange(11), L, prefix="b")])
    table = plot_data.coverage(frame, widths=np.array([0.2, 0.6]))
    assert list(table["variable"]) == ["a", "a", "b", "b"]
    assert list(table["width"]) == [0.2, 0.6, 0.2, 0.6]


def test_coverage_interval_contains_the_estimate_at_the_extremes():
    L = 20
    edges = ranks_frame(np.r_[np.zeros(50, int), np.full(50, L)], L)  # every truth outside the middle
    table = plot_data.coverage(edges, widths=np.array([0.1, 0.99999]))
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
    out = plot_data.zscore_contraction(frame)
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
    out = plot_data.zscore_contraction(frame)
    assert abs(out["zscore"].mean()) < 4 / np.sqrt(n_rep)
    assert out["zscore"].std() == pytest.approx(1, abs=0.05)
    assert out["contraction"].mean() == pytest.approx(1 - 1 / (n_obs + 1), abs=0.01)
