"""The sequential rank-uniformity test: a test martingale under uniform ranks (exact enumeration),
Ville's bound under continuous monitoring, fast on obvious miscalibration, incremental = batch."""

import itertools

import numpy as np
import pytest
from scipy import stats

from sbc_helpers.stats import sequential as sq

ALPHA = sq.ALPHA


def all_sequences(max_rank: int, n: int) -> np.ndarray:
    """Every rank sequence of length n on 0..L: each has probability (L+1)^-n under the null."""
    return np.array(list(itertools.product(range(max_rank + 1), repeat=n)))


# --- martingale property ------------------------------------------------------------------------


@pytest.mark.parametrize("max_rank,n", [(1, 8), (2, 6), (3, 5), (5, 4)])
def test_expected_e_is_one_at_every_n_by_exact_enumeration(max_rank, n):
    seqs = all_sequences(max_rank, n)
    paths = sq.component_log_paths(seqs, max_rank)
    for log_path in [paths["plugin"], paths["edge"], sq.log_e_process(seqs, max_rank)]:
        np.testing.assert_allclose(np.exp(log_path).mean(axis=0), 1.0, rtol=1e-12)


@pytest.mark.parametrize("max_rank", [1, 2, 4])
def test_each_step_is_fair_given_any_past(max_rank):
    """E[E_n / E_{n-1} | r_1..r_{n-1}] = 1 for every past: the martingale property itself (stronger
    than E[E_n] = 1), for each component and for their mixture."""
    n = 4
    seqs = all_sequences(max_rank, n)
    for name in ["plugin", "edge", "mixture"]:
        if name == "mixture":
            log_path = sq.log_e_process(seqs, max_rank)
        else:
            log_path = sq.component_log_paths(seqs, max_rank)[name]
        ratio = np.exp(log_path[:, -1] - log_path[:, -2])
        # sequences are in lexicographic order: consecutive blocks of L+1 share the same past
        np.testing.assert_allclose(ratio.reshape(-1, max_rank + 1).mean(axis=1), 1.0, rtol=1e-12)


def test_expected_e_is_one_for_realistic_L_by_simulation():
    """L = 100, n = 30: mean of E_30 over 40000 null paths within 4 standard errors of 1."""
    rng = np.random.default_rng(11)
    e = np.exp(sq.log_e_process(rng.integers(0, 101, size=(40_000, 30)), 100)[:, -1])
    assert abs(e.mean() - 1) < 4 * e.std(ddof=1) / np.sqrt(len(e))


def test_ville_bound_holds_for_continuous_monitoring():
    """P(sup_{n<=300} E_n >= 20) <= 0.05: 3000 null paths, L = 20; the observed rate must not exceed
    0.05 by more than 3 binomial standard errors."""
    rng = np.random.default_rng(12)
    log_path = sq.log_e_process(rng.integers(0, 21, size=(3000, 300)), 20)
    rate = (log_path.max(axis=1) >= np.log(1 / ALPHA)).mean()
    assert rate <= ALPHA + 3 * np.sqrt(ALPHA * (1 - ALPHA) / 3000)


def test_plugin_starts_at_the_uniform():
    """With no past, the plug-in bets nothing: a = b = 1 for any L, so E_1 of the plug-in is 1."""
    for max_rank in [1, 2, 10, 100, 1000]:
        a, b = sq.plugin_parameters(0, 0, 0, max_rank)
        if max_rank > 1:
            assert np.isclose(a, 1) and np.isclose(b, 1)
        else:
            assert np.isclose(a / (a + b), 0.5)
        log_path = sq.component_log_paths(np.array([0, max_rank // 2, max_rank]), max_rank)["plugin"]
        assert np.isclose(log_path[0], 0.0)


def test_beta_binomial_pmf_sums_to_one():
    for max_rank, a, b in [(1, 0.3, 2.0), (10, 0.05, 0.05), (100, 1e4 * 0.3, 1e4 * 0.7), (100, 2.0, 0.5)]:
        pmf = np.exp(sq.beta_binomial_log_pmf(np.arange(max_rank + 1), a, b, max_rank))
        assert np.isclose(pmf.sum(), 1.0, rtol=1e-10)
    np.testing.assert_allclose(np.exp(sq.beta_binomial_log_pmf(np.arange(8), 1.0, 1.0, 7)), 1 / 8)


# --- power: obvious miscalibration is flagged fast ----------------------------------------------


def test_flags_ranks_piled_at_the_extremes_fast():
    """Posterior far too narrow: every rank 0 or L. Flagged within 10 replicates."""
    rng = np.random.default_rng(1)
    r = rng.choice([0, 100], size=(200, 1))
    v = sq.sequential_verdict(r, 100)
    assert v.stopped_at is not None and v.stopped_at <= 10 and v.flagged == [0]


def test_flags_strong_bias_fast_and_names_the_bad_quantity():
    """Nine calibrated quantities and one whose ranks all sit in the top half (strong bias)."""
    rng = np.random.default_rng(2)
    r = rng.integers(0, 101, size=(300, 10))
    r[:, 6] = rng.integers(50, 101, size=300)
    for method in sq.METHODS:
        v = sq.sequential_verdict(r, 100, method=method)
        assert v.flagged == [6], method
        assert v.stopped_at <= 40, (method, v.stopped_at)


def test_flags_a_u_shape_from_a_too_narrow_posterior():
    """Posterior sd half the truth: rank | Z ~ Binomial(L, Phi(2 Z)). Median stop well under 100."""
    rng = np.random.default_rng(3)
    u = stats.norm.cdf(2 * rng.standard_normal(size=(200, 1000)))
    stops = []
    for row in rng.binomial(100, u):
        v = sq.sequential_verdict(row[:, None], 100)
        stops.append(v.stopped_at or 10_000)
    assert np.median(stops) < 60 and np.mean(np.array(stops) <= 1000) > 0.99


# --- incremental = batch ------------------------------------------------------------------------


@pytest.mark.parametrize("method", sq.METHODS)
def test_incremental_update_equals_batch_path(method):
    rng = np.random.default_rng(4)
    r = rng.integers(0, 51, size=(400, 5))
    r[:, 2] = np.minimum(r[:, 2] + rng.integers(0, 20, size=400), 50)  # one biased quantity
    v = sq.sequential_verdict(r, 50, method=method, stop=False)
    mon = sq.SequentialMonitor(5, 50, method=method)
    first = None
    for i, row in enumerate(r):
        if mon.update(row) and first is None:
            first = i + 1
    np.testing.assert_allclose(mon.log_e_path, v.log_e, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(mon.log_e_adjusted, v.log_e_adjusted[-1], rtol=1e-12, atol=1e-12)
    assert mon.flagged == v.flagged and mon.stopped_at == v.stopped_at == first
    assert 2 in v.flagged
    stopped = sq.sequential_verdict(r, 50, method=method)
    assert stopped.stopped_at == first and len(stopped.log_e) == first


def test_monitor_report_names_the_quantity_and_the_bar():
    rng = np.random.default_rng(8)
    for method, bar in [("bonferroni", ">= 40 (m/alpha)"), ("closed-mean", ">= 20 (1/alpha)")]:
        mon = sq.SequentialMonitor(2, 100, method=method)
        for _ in range(30):
            mon.update([0, rng.integers(0, 101)])
        lines = mon.report(names=["mu", "sigma"])
        assert mon.flagged == [0] and len(lines) == 1, lines
        assert lines[0].startswith(f"mu: flagged at replicate {mon.stopped_at}, e-value") and bar in lines[0]


# --- combining quantities -----------------------------------------------------------------------


def test_closed_mean_equals_brute_force_closed_testing():
    rng = np.random.default_rng(5)
    for _ in range(300):
        m = int(rng.integers(1, 7))
        e = np.exp(rng.normal(0, 3, size=m))
        brute = [min(e[[i for i in range(m) if mask >> i & 1]].mean()
                     for mask in range(1, 1 << m) if mask >> j & 1) for j in range(m)]
        np.testing.assert_allclose(np.exp(sq.closed_mean_log_e(np.log(e))), brute, rtol=1e-10)


def test_closed_mean_flags_everything_bonferroni_flags():
    rng = np.random.default_rng(6)
    log_e = rng.normal(2, 3, size=(2000, 10))
    threshold = np.log(1 / ALPHA)
    bonf = sq.adjusted_log_e(log_e, "bonferroni") >= threshold
    closed = sq.adjusted_log_e(log_e, "closed-mean") >= threshold
    assert (closed | ~bonf).all() and closed.sum() > bonf.sum()
    assert (sq.adjusted_log_e(log_e, "closed-mean") <= log_e + 1e-12).all()
    for method in sq.METHODS:
        np.testing.assert_array_equal(sq.flags(log_e, ALPHA, method),
                                      sq.adjusted_log_e(log_e, method) >= threshold)


def test_closed_mean_handles_infinite_and_tiny_log_e():
    log_e = np.array([[-np.inf, 0.0, 800.0], [-1e4, -1e4, -1e4]])
    adj = sq.closed_mean_log_e(log_e)
    assert np.isfinite(adj[0, 2]) and adj[0, 2] == pytest.approx(800 - np.log(3))
    np.testing.assert_allclose(adj[1], -1e4)


def test_e_bh():
    log_e = np.log([1000.0, 150.0, 0.5, 60.0])  # m = 4, alpha = .05: bars 80, 40, 26.7, 20
    assert sq.e_bh(log_e) == [0, 1, 3]
    assert sq.e_bh(np.log([70.0, 1.0])) == [0]
    assert sq.e_bh(np.log([30.0, 1.0])) == []
    assert sq.e_bh(np.zeros(0)) == []


# --- degenerate inputs --------------------------------------------------------------------------


def test_no_replicates():
    assert sq.log_e_process(np.zeros(0, int), 100).shape == (0,)
    v = sq.sequential_verdict(np.zeros((0, 3), int), 100)
    assert v.stopped_at is None and v.flagged == [] and v.log_e.shape == (0, 3)
    mon = sq.SequentialMonitor(3, 100)
    assert mon.n == 0 and mon.flagged == [] and mon.log_e_path.shape == (0, 3)
    np.testing.assert_array_equal(mon.log_e, 0.0)


def test_no_quantities():
    v = sq.sequential_verdict(np.zeros((5, 0), int), 10)
    assert v.stopped_at is None and v.flagged == [] and v.log_e.shape == (5, 0)


def test_max_rank_one():
    """L = 1: ranks are coin flips; a fair coin is not flagged, an always-0 coin is."""
    rng = np.random.default_rng(7)
    assert sq.sequential_verdict(rng.integers(0, 2, size=(500, 2)), 1).stopped_at is None
    v = sq.sequential_verdict(np.zeros((50, 1), int), 1)
    assert v.flagged == [0] and v.stopped_at <= 12


def test_invalid_input_is_refused():
    with pytest.raises(ValueError):
        sq.log_e_process(np.array([0, 101]), 100)
    with pytest.raises(ValueError):
        sq.log_e_process(np.array([-1, 3]), 100)
    with pytest.raises(ValueError):
        sq.log_e_process(np.array([0.5, 3]), 100)
    with pytest.raises(ValueError):
        sq.log_e_process(np.array([0, 0]), 0)
    with pytest.raises(ValueError):
        sq.SequentialMonitor(2, 10).update([1, 2, 3])
    with pytest.raises(ValueError):
        sq.sequential_verdict(np.zeros(4, int), 10)


def test_e_process_is_exp_of_log_and_overflows_only_to_inf():
    r = np.zeros(3000, int)
    log_path = sq.log_e_process(r, 100)
    assert log_path[-1] > 800  # beyond float range
    e = sq.e_process(r, 100)
    assert np.isinf(e[-1]) and np.allclose(e[:5], np.exp(log_path[:5]))
    assert sq.format_e(np.log(41.2)) == "41.2" and sq.format_e(log_path[-1]).startswith("1e+")
