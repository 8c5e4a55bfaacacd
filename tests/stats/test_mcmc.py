"""The vectorised R-hat and ESS equal ArviZ's, scalar by scalar, on chains of every kind."""

import numpy as np
import pytest
from arviz_stats.base import array_stats

from sbc_helpers.stats import mcmc


def _chains(rng, n, chains, draws, phi):
    """AR(1) chains with autocorrelation ``phi`` and chain offsets (some disagreement)."""
    x = np.zeros((n, chains, draws))
    noise = rng.normal(size=x.shape)
    for t in range(1, draws):
        x[..., t] = phi * x[..., t - 1] + noise[..., t]
    return x + 0.3 * rng.normal(size=(n, chains, 1))


CASES = {
    "mixing well": dict(chains=4, draws=500, phi=0.0),
    "sticky": dict(chains=2, draws=1000, phi=0.95),
    "anticorrelated": dict(chains=3, draws=400, phi=-0.6),
    "one chain": dict(chains=1, draws=300, phi=0.5),
    "short": dict(chains=2, draws=9, phi=0.3),
    "odd length": dict(chains=3, draws=101, phi=0.7),
}


@pytest.mark.parametrize("case", CASES)
def test_rhat_and_ess_equal_arviz_per_scalar(case):
    rng = np.random.default_rng(list(CASES).index(case))
    draws = _chains(rng, 12, **CASES[case])
    draws[3] = np.round(draws[3])  # ties: average ranks
    expected_rhat = array_stats.rhat(draws)
    expected_bulk = array_stats.ess(draws, method="bulk")
    expected_tail = array_stats.ess(draws, method="tail", prob=0.89)
    np.testing.assert_allclose(mcmc.rhat(draws), expected_rhat, rtol=1e-10, equal_nan=True)
    np.testing.assert_allclose(mcmc.ess_bulk(draws), expected_bulk, rtol=1e-10)
    np.testing.assert_allclose(mcmc.ess_tail(draws, 0.89), expected_tail, rtol=1e-10)


def test_constant_and_discrete_scalars():
    rng = np.random.default_rng(7)
    draws = np.stack([np.full((2, 200), 3.0), rng.integers(0, 3, size=(2, 200)).astype(float),
                      rng.normal(size=(2, 200))])
    np.testing.assert_allclose(mcmc.ess_bulk(draws), array_stats.ess(draws, method="bulk"), rtol=1e-10)
    np.testing.assert_allclose(mcmc.ess_tail(draws, 0.89), array_stats.ess(draws, method="tail", prob=0.89),
                               rtol=1e-10)
    assert mcmc.ess_bulk(draws)[0] == 400


def test_chains_stuck_at_two_values_and_nan_draws_equal_arviz():
    rng = np.random.default_rng(8)
    stuck = np.stack([np.zeros((2, 100)), rng.normal(size=(2, 100))])
    stuck[0, 1] = 1.0  # the folded draws are constant: ArviZ keeps the bulk R-hat, a huge one
    with_nan = rng.normal(size=(2, 4, 100))
    with_nan[0, 1, 7] = np.nan
    for draws in (stuck, with_nan):
        np.testing.assert_allclose(mcmc.rhat(draws), array_stats.rhat(draws), rtol=1e-10, equal_nan=True)
        np.testing.assert_allclose(mcmc.ess_bulk(draws), array_stats.ess(draws, method="bulk"), rtol=1e-10,
                                   equal_nan=True)
        np.testing.assert_allclose(mcmc.ess_tail(draws, 0.89), array_stats.ess(draws, method="tail", prob=0.89),
                                   rtol=1e-10, equal_nan=True)
    assert mcmc.rhat(stuck)[0] > 1e6
    assert np.isnan(mcmc.ess_tail(with_nan, 0.89)[0]) and np.isnan(mcmc.rhat(with_nan)[0])


def test_too_few_draws_give_nan():
    draws = np.random.default_rng(0).normal(size=(2, 2, 3))
    assert np.isnan(mcmc.rhat(draws)).all() and np.isnan(mcmc.ess_bulk(draws)).all()
    assert np.isnan(mcmc.ess_tail(draws, 0.89)).all()
