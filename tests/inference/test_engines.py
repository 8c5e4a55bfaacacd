"""The methods compiled once besides nutpie and ADVI (PyMC's NUTS, numpyro, blackjax, SMC, Laplace,
Pathfinder): the second data set reuses the first one's compiled functions, the draws match the
exact posterior of a conjugate model, and PyMC's NUTS and SMC give exactly PyMC's own draws."""

import numpy as np
import pymc as pm
import pytest

from sbc_helpers.compiled.cache import CACHE
from sbc_helpers.compiled.shared import shared_condition
from sbc_helpers.inference import fit
from sbc_helpers.models.designs import normal_normal_design
from sbc_helpers.models.library import hierarchical_noncentered, normal_normal, normal_normal_posterior
from sbc_helpers.simulation.prior import simulate

DESIGN = normal_normal_design(10, sigma=1.0)
METHODS = {
    # kind in the cache: settings
    "pymc": {"method": "nuts", "sampler": "pymc", "draws": 500, "tune": 300, "chains": 2},
    "numpyro": {"method": "nuts", "sampler": "numpyro", "draws": 500, "tune": 300, "chains": 2,
                "chain_method": "vectorized"},
    "blackjax": {"method": "nuts", "sampler": "blackjax", "draws": 500, "tune": 300, "chains": 2,
                 "chain_method": "vectorized"},
    "smc": {"method": "smc", "draws": 500, "chains": 2},
    "laplace": {"method": "laplace", "draws": 1000},
    "pathfinder": {"method": "pathfinder", "draws": 1000, "num_paths": 2, "draws_per_path": 500},
}
SLOW = {"numpyro", "blackjax", "pathfinder"}  # tens of seconds to compile cold


@pytest.fixture
def empty_cache():
    CACHE.clear()
    yield CACHE
    CACHE.clear()


def _exact_moments(data, seed=0):
    draws = normal_normal_posterior(pm.observe(normal_normal(DESIGN), data), np.random.default_rng(seed), 200_000)
    return draws["mu"].mean(), draws["mu"].std()


@pytest.mark.parametrize("kind", [pytest.param(k, marks=pytest.mark.slow) if k in SLOW else k for k in METHODS])
def test_the_second_data_set_reuses_the_compiled_method_and_draws_match_the_exact_posterior(empty_cache, kind):
    data_sets = [simulate(normal_normal(DESIGN), seed=s).data for s in (1, 2)]
    fits = [fit(normal_normal(DESIGN), data, seed=20 + i, **METHODS[kind]) for i, data in enumerate(data_sets)]
    assert (empty_cache.hits[kind], empty_cache.misses[kind]) == (1, 1)
    if kind in ("numpyro", "blackjax"):
        (entry,) = [e.function for e in empty_cache.entries if e.key[0] == kind]
        assert len(entry.traces) == 1  # the jitted sampler was traced (and compiled) once
    assert fits[1].seconds < fits[0].seconds
    for fitted, data in zip(fits, data_sets, strict=True):
        mu = fitted.idata["posterior"]["mu"].to_numpy().ravel()
        mean, sd = _exact_moments(data)
        assert abs(mu.mean() - mean) < 0.15 * sd, (kind, mu.mean(), mean, sd)
        assert abs(mu.std() / sd - 1) < 0.15, (kind, mu.std(), sd)


def _draws(idata) -> dict[str, np.ndarray]:
    posterior = idata["posterior"]
    return {name: posterior[name].to_numpy() for name in posterior.data_vars}


def test_reused_pymc_nuts_gives_pm_samples_draws(empty_cache, tiny_design):
    settings = {"draws": 30, "tune": 30, "chains": 2}
    data_sets = [simulate(hierarchical_noncentered(tiny_design), seed=s).data for s in (1, 2)]
    reused = [_draws(fit(hierarchical_noncentered(tiny_design), data, seed=5, method="nuts", sampler="pymc",
                         **settings).idata) for data in data_sets]
    assert (empty_cache.hits["pymc"], empty_cache.misses["pymc"]) == (1, 1)
    conditioned, _ = shared_condition(hierarchical_noncentered(tiny_design), data_sets[1])
    expected = pm.sample(**settings, model=conditioned, nuts_sampler="pymc", cores=1, random_seed=5,
                         progressbar=False, compute_convergence_checks=False)
    for name, values in _draws(expected).items():
        np.testing.assert_array_equal(reused[1][name], values, err_msg=name)


def test_reused_smc_gives_pm_sample_smcs_draws(empty_cache, tiny_design):
    data_sets = [simulate(hierarchical_noncentered(tiny_design), seed=s).data for s in (1, 2)]
    reused = [_draws(fit(hierarchical_noncentered(tiny_design), data, seed=5, method="smc", draws=100,
                         chains=2).idata) for data in data_sets]
    assert (empty_cache.hits["smc"], empty_cache.misses["smc"]) == (1, 1)
    conditioned, _ = shared_condition(hierarchical_noncentered(tiny_design), data_sets[1])
    expected = pm.sample_smc(draws=100, chains=2, cores=1, random_seed=5, model=conditioned, progressbar=False)
    for name, values in _draws(expected).items():
        np.testing.assert_allclose(reused[1][name], values, rtol=1e-9, atol=1e-12, err_msg=name)
