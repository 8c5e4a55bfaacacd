"""nutpie's callbacks come from the Numba cache once compiled, with nutpie's own draws, and never
for a graph that differs."""

import numpy as np
import nutpie
import pymc as pm
import pytensor
import pytest

from sbc_helpers.compiled import callbacks
from sbc_helpers.setup import configure

COUNTIES = [f"county {i}" for i in range(6)]


def _radon(floor: np.ndarray, county: np.ndarray, log_radon: np.ndarray, prior_scale: float) -> pm.Model:
    """A varying-intercept radon model in the PyMC docs' style (coords, dims, ``pm.Data``)."""
    with pm.Model(coords={"county": COUNTIES, "house": np.arange(len(floor))}) as model:
        floor_idx = pm.Data("floor_idx", floor, dims="house")
        county_idx = pm.Data("county_idx", county, dims="house")
        mu_alpha = pm.Normal("mu_alpha", 0.0, prior_scale)
        sigma_alpha = pm.HalfNormal("sigma_alpha", 1.0)
        alpha = pm.Normal("alpha", mu_alpha, sigma_alpha, dims="county")
        pm.Deterministic("alpha_standardised", (alpha - mu_alpha) / prior_scale, dims="county")
        beta = pm.Normal("beta", 0.0, 1.0)
        sigma = pm.Exponential("sigma", 1.0)
        observed = pm.Data("observed", log_radon, dims="house")
        pm.StudentT("log_radon", nu=4, mu=alpha[county_idx] + beta * floor_idx, sigma=sigma, observed=observed,
                    dims="house")
    return model


def _data(seed: int, n: int = 40) -> tuple:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 2, n).astype(float), rng.integers(0, len(COUNTIES), n), rng.normal(1.0, 0.8, n)


def _sample(compiled) -> np.ndarray:
    idata = nutpie.sample(compiled, draws=100, tune=100, chains=2, cores=1, seed=3, progress_bar=False)
    return np.concatenate([idata.posterior[v].to_numpy().ravel() for v in sorted(idata.posterior.data_vars)])


def _hits(compiled) -> tuple[int, int]:
    return compiled.compiled_logp_func._cache_hits, compiled.compiled_expand_func._cache_hits


@pytest.fixture(autouse=True)
def _configured():
    configure()


def test_a_second_compile_loads_both_callbacks_and_samples_what_nutpie_samples():
    scale = float(np.random.default_rng().uniform(5, 6))  # a graph no earlier run has cached
    first = callbacks.compile_pymc_model(_radon(*_data(1), prior_scale=scale))
    assert _hits(first) == (0, 0)
    model = _radon(*_data(2), prior_scale=scale)  # the next replicate: new model object, other data
    second = callbacks.compile_pymc_model(model)
    assert _hits(second) == (1, 1)
    np.testing.assert_array_equal(_sample(second), _sample(nutpie.compile_pymc_model(model, backend="numba")))


def test_a_graph_that_differs_compiles_its_own_callbacks():
    scale = float(np.random.default_rng().uniform(5, 6))
    callbacks.compile_pymc_model(_radon(*_data(1), prior_scale=scale))
    other_prior = callbacks.compile_pymc_model(_radon(*_data(1), prior_scale=scale + 1))
    floor, county, log_radon = _data(1, n=30)
    other_size = callbacks.compile_pymc_model(_radon(floor, county, log_radon, prior_scale=scale))
    assert _hits(other_prior) == (0, 0)
    assert _hits(other_size)[0] == 0  # the log-density reads the data; the expansion reads none


def test_with_the_cache_off_nutpie_compiles_as_it_always_does(monkeypatch):
    monkeypatch.setattr(pytensor.config, "numba__cache", False)
    compiled = callbacks.compile_pymc_model(_radon(*_data(1), prior_scale=5.0))
    assert _hits(compiled) == (0, 0)
    assert compiled.compiled_logp_func._cache.__class__.__name__ == "NullCache"
