import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from sbc_helpers.stats.ranks import rank, rank_table, scalar_quantities, thin, thin_indices

# Significance level for the chi-square checks below. Each check uses a fixed seed, so it is
# deterministic; the level says how unusual the observed histogram would have to be to fail.
CHI2_LEVEL = 1e-3


# --- thin_indices -------------------------------------------------------------------------------


@pytest.mark.parametrize("n_draws, n_keep", [(100, 10), (200, 100), (2000, 100), (7, 3), (50, 50)])
def test_thin_indices_count_and_even_spacing(n_draws, n_keep):
    idx = thin_indices(n_draws, n_keep)
    assert len(idx) == n_keep
    assert idx[0] == 0
    assert idx[-1] < n_draws
    gaps = np.diff(idx)
    # evenly spaced: every gap is floor or ceil of n_draws / n_keep
    assert set(gaps) <= {n_draws // n_keep, -(-n_draws // n_keep)}


def test_thin_indices_keeping_all_draws_is_the_identity():
    np.testing.assert_array_equal(thin_indices(40, 40), np.arange(40))


def test_thin_indices_rejects_more_draws_than_available():
    with pytest.raises(ValueError, match="L=101"):
        thin_indices(100, 101)


@pytest.mark.parametrize("n_keep", [0, -5])
def test_thin_indices_rejects_fewer_than_one_draw(n_keep):
    with pytest.raises(ValueError, match="at least 1"):
        thin_indices(100, n_keep)


def test_thin_pools_chains_before_thinning():
    # value = 100 * chain + draw, so the kept values reveal which chain/draw each came from
    values = 100 * np.arange(2)[:, None] + np.arange(10)[None, :]
    posterior = xr.Dataset({"theta": (("chain", "draw"), values.astype(float))})
    kept = thin(posterior, 5)
    assert kept["theta"].dims == ("draw",)
    np.testing.assert_array_equal(kept["theta"].to_numpy(), [0, 4, 8, 102, 106])


# --- rank ---------------------------------------------------------------------------------------


def test_rank_truth_below_every_draw_is_zero():
    rng = np.random.default_rng(0)
    assert rank(np.linspace(1, 2, 20), 0.5, rng) == 0


def test_rank_truth_above_every_draw_is_L():
    rng = np.random.default_rng(0)
    assert rank(np.linspace(1, 2, 20), 2.5, rng) == 20


def test_rank_counts_draws_strictly_below_truth():
    rng = np.random.default_rng(0)
    assert rank(np.array([3.0, 1.0, 5.0, 2.0, 4.0]), 3.5, rng) == 3


def test_rank_breaks_full_ties_uniformly_over_0_to_L():
    # All L draws equal the truth: the rank must be uniform on {0, ..., L}.
    L, per_value = 20, 500
    n = (L + 1) * per_value
    rng = np.random.default_rng(12345)
    draws = np.full(L, 1.5)
    ranks = np.array([rank(draws, 1.5, rng) for _ in range(n)])
    assert ranks.min() == 0
    assert ranks.max() == L
    counts = np.bincount(ranks, minlength=L + 1)
    assert len(counts) == L + 1
    assert stats.chisquare(counts).pvalue > CHI2_LEVEL
    # the mean of a discrete uniform on 0..L is L/2 with variance ((L+1)^2 - 1) / 12;
    # 3 standard errors of the sample mean is the tolerance
    se = np.sqrt(((L + 1) ** 2 - 1) / 12 / n)
    assert abs(ranks.mean() - L / 2) < 3 * se


def test_rank_breaks_partial_ties_among_the_tied_positions_only():
    # one draw below, three tied, one above: the rank is uniform on {1, 2, 3, 4}
    rng = np.random.default_rng(7)
    draws = np.array([1.0, 2.0, 2.0, 2.0, 3.0])
    ranks = np.array([rank(draws, 2.0, rng) for _ in range(4000)])
    assert set(ranks) == {1, 2, 3, 4}
    assert stats.chisquare(np.bincount(ranks)[1:]).pvalue > CHI2_LEVEL


def test_a_constant_computed_with_rounding_errors_ties_with_its_truth():
    # a correlation matrix's diagonal: the truth is 1.0 exactly, every draw one rounding error below.
    # Without the tolerance the rank would be L every time, a certain false alarm.
    L, n = 20, (20 + 1) * 300
    rng = np.random.default_rng(3)
    draws = np.full(L, np.nextafter(1.0, 0.0))
    ranks = np.array([rank(draws, 1.0, rng) for _ in range(n)])
    assert stats.chisquare(np.bincount(ranks, minlength=L + 1)).pvalue > CHI2_LEVEL


def test_a_nan_truth_or_nan_draws_cannot_be_ranked():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="NaN"):
        rank(np.linspace(1, 2, 20), np.nan, rng)
    with pytest.raises(ValueError, match="NaN"):
        rank(np.r_[np.linspace(1, 2, 19), np.nan], 1.5, rng)


def test_draws_beyond_the_tie_tolerance_are_ranked_as_they_are():
    rng = np.random.default_rng(0)
    draws = np.array([1.0 - 1e-9, 1.0 + 1e-9, 1.0 - 2e-9])  # far above 1e-12 relative
    assert all(rank(draws, 1.0, rng) == 2 for _ in range(50))
    assert rank(np.array([-1e-300, 1e-300]), 0.0, rng) == 1  # a zero truth ties only with exact zeros


# --- rank_table ---------------------------------------------------------------------------------


def pooled(posterior: xr.Dataset) -> xr.Dataset:
    """All of a (chain, draw) posterior's draws on one ``draw`` dim, chain-major (what a replicate
    archives): thinning to every draw is the identity."""
    return thin(posterior, posterior.sizes["chain"] * posterior.sizes["draw"])


@pytest.fixture
def synthetic():
    rng = np.random.default_rng(3)
    chains, draws = 2, 50
    posterior = xr.Dataset(
        {
            "mu": (("chain", "draw"), rng.normal(size=(chains, draws))),
            "alpha": (("chain", "draw", "group"), rng.normal(size=(chains, draws, 3))),
            "gamma": (("chain", "draw", "group", "k"), rng.normal(size=(chains, draws, 3, 2))),
        },
        coords={"chain": [0, 1], "draw": np.arange(draws), "group": ["A", "B", "C"], "k": [0, 1]},
    )
    truth = xr.Dataset(
        {
            "mu": ((), 0.25),
            "alpha": (("group",), np.array([-0.5, 0.1, 3.0])),
            "gamma": (("group", "k"), rng.normal(size=(3, 2))),
        },
        coords={"group": ["A", "B", "C"], "k": [0, 1]},
    )
    return posterior, truth


def test_thin_without_chains_thins_along_draw():
    draws = xr.Dataset({"theta": (("draw", "k"), np.arange(20.0)[:, None] * [1, -1])}, coords={"k": [0, 1]})
    kept = thin(draws, 4)
    assert kept["theta"].dims == ("draw", "k")
    np.testing.assert_array_equal(kept["theta"].sel(k=0).to_numpy(), [0, 5, 10, 15])
    np.testing.assert_array_equal(kept["theta"].sel(k=1).to_numpy(), [0, -5, -10, -15])


def test_pooled_draws_are_chain_major(synthetic):
    posterior, _ = synthetic
    draws = pooled(posterior)
    assert "chain" not in draws.dims and draws.sizes["draw"] == 100
    np.testing.assert_array_equal(draws["mu"].to_numpy(), posterior["mu"].to_numpy().ravel())


def test_rank_table_one_row_per_scalar_quantity(synthetic):
    posterior, truth = synthetic
    ranks = rank_table(pooled(posterior)[["mu", "alpha"]], truth, n_rank_draws=10, seed=1)
    assert list(ranks["quantity"]) == ["mu", "alpha[A]", "alpha[B]", "alpha[C]"]
    assert list(ranks["variable"]) == ["mu", "alpha", "alpha", "alpha"]
    assert list(ranks.columns) == [
        "quantity", "variable", "rank", "max_rank", "true_value", "post_mean", "post_sd",
    ]
    assert (ranks["max_rank"] == 10).all()
    assert ranks["rank"].between(0, 10).all()


def test_rank_table_ranks_every_variable_of_the_draws(synthetic):
    posterior, truth = synthetic
    ranks = rank_table(pooled(posterior), truth, n_rank_draws=10, seed=1)
    assert list(dict.fromkeys(ranks["variable"])) == ["mu", "alpha", "gamma"]
    assert len(ranks) == 1 + 3 + 6


def test_rank_table_truth_and_posterior_summaries(synthetic):
    posterior, truth = synthetic
    ranks = rank_table(pooled(posterior)[["mu", "alpha"]], truth, n_rank_draws=10, seed=1)
    row = ranks.set_index("quantity")
    np.testing.assert_allclose(row["true_value"], [0.25, -0.5, 0.1, 3.0])
    # summaries use every draw passed in (both chains, pooled), not only the L thinned ones
    all_alpha_b = posterior["alpha"].sel(group="B").to_numpy().ravel()
    assert row.loc["alpha[B]", "post_mean"] == pytest.approx(all_alpha_b.mean())
    assert row.loc["alpha[B]", "post_sd"] == pytest.approx(all_alpha_b.std(ddof=1))
    all_mu = posterior["mu"].to_numpy().ravel()
    assert row.loc["mu", "post_mean"] == pytest.approx(all_mu.mean())
    assert row.loc["mu", "post_sd"] == pytest.approx(all_mu.std(ddof=1))


def test_rank_table_counts_the_L_evenly_thinned_draws(synthetic):
    posterior, truth = synthetic
    L = 10
    draws = pooled(posterior)[["mu", "alpha"]]
    ranks = rank_table(draws, truth, n_rank_draws=L, seed=1)
    thinned = thin(draws, L)
    pooled_mu = posterior["mu"].to_numpy().ravel()  # chain-major, like the pooled sample dim
    np.testing.assert_allclose(thinned["mu"], pooled_mu[thin_indices(100, L)])
    # continuous draws have no ties, so each rank is exactly the count of thinned draws below truth
    for _, r in ranks.iterrows():
        values = thinned["mu"] if r["quantity"] == "mu" else thinned["alpha"].sel(group=r["quantity"][6])
        assert r["rank"] == int((values.to_numpy() < r["true_value"]).sum())


def test_rank_table_names_matrix_elements_with_all_coordinates(synthetic):
    posterior, truth = synthetic
    ranks = rank_table(pooled(posterior)[["gamma"]], truth, n_rank_draws=5, seed=1)
    expected = [f"gamma[{g}, {k}]" for g in "ABC" for k in (0, 1)]
    assert list(ranks["quantity"]) == expected
    assert (ranks["variable"] == "gamma").all()
    row = ranks.set_index("quantity")
    assert row.loc["gamma[B, 1]", "true_value"] == pytest.approx(float(truth["gamma"].sel(group="B", k=1)))


def test_rank_table_is_reproducible_by_seed_when_ties_occur():
    # draws equal to the truth force random tie breaking; the seed must fix it
    draws = xr.Dataset({"p": (("draw", "i"), np.zeros((100, 30)))})
    truth = xr.Dataset({"p": (("i",), np.zeros(30))})
    a = rank_table(draws, truth, 20, seed=5)
    b = rank_table(draws, truth, 20, seed=5)
    c = rank_table(draws, truth, 20, seed=6)
    pd.testing.assert_frame_equal(a, b)
    assert not a["rank"].equals(c["rank"])


def test_scalar_quantities_labels_follow_coordinates():
    ds = xr.Dataset({"b": (("g",), [1.0, 2.0])}, coords={"g": ["x", "y"]})
    out = scalar_quantities(ds, ["b"])
    assert list(out) == ["b[x]", "b[y]"]
    assert float(out["b[y]"]) == 2.0


# --- the SBC property itself --------------------------------------------------------------------


def _exact_sbc_ranks(truth_mean: float, truth_sd: float, seed: int):
    """Ranks of R truths among L thinned 'posterior' draws that are exact iid N(0, 1) draws.

    Each replicate is one element of a vector variable, so one rank_table call ranks all of them
    (thinning, pooling and labelling included) with independent draws per replicate.
    """
    R, L = 2000, 20
    rng = np.random.default_rng(seed)
    posterior = xr.Dataset(
        {"theta": (("chain", "draw", "rep"), rng.normal(size=(2, 50, R)))},
        coords={"rep": np.arange(R)},
    )
    draws = thin(posterior, 100)  # pooled chains, as a replicate's archive keeps them
    truth = xr.Dataset(
        {"theta": (("rep",), rng.normal(truth_mean, truth_sd, R))}, coords={"rep": np.arange(R)}
    )
    ranks = rank_table(draws, truth, L, seed=seed + 1)
    assert len(ranks) == R
    return np.bincount(ranks["rank"], minlength=L + 1)


def test_ranks_are_uniform_when_draws_come_from_the_truths_distribution():
    # 2000 ranks over 21 values: ~95 expected per value, so Pearson's chi-square is accurate.
    counts = _exact_sbc_ranks(0.0, 1.0, seed=2018)
    assert len(counts) == 21
    assert stats.chisquare(counts).pvalue > CHI2_LEVEL


@pytest.mark.parametrize(
    "truth_mean, truth_sd, shape",
    [(0.5, 1.0, "shifted"), (0.0, 2.0, "overdispersed"), (0.0, 0.3, "underdispersed")],
)
def test_ranks_are_clearly_non_uniform_when_truth_comes_from_elsewhere(truth_mean, truth_sd, shape):
    counts = _exact_sbc_ranks(truth_mean, truth_sd, seed=2018)
    assert stats.chisquare(counts).pvalue < 1e-10
    L = len(counts) - 1
    ends, middle = counts[[0, L]].sum(), counts[L // 2 - 1 : L // 2 + 2].sum()
    if shape == "shifted":  # truth too high: too many high ranks
        assert counts[L // 2 + 1 :].sum() > counts[: L // 2].sum()
    elif shape == "overdispersed":  # truth too spread out: U shape
        assert ends > 2 * middle
    else:  # truth too concentrated: hump
        assert middle > 2 * ends
