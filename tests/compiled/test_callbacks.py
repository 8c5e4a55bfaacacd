"""nutpie's callbacks come from the Numba cache once compiled, with nutpie's own draws, and never
for a callback that differs: another graph, other data shapes, another dimension, data in other
places of nutpie's record. Each test starts from an empty cache folder of its own."""

import numba
import numpy as np
import nutpie
import pymc as pm
import pytensor
import pytest
from nutpie import compile_pymc

from sbc_helpers.compiled import callbacks
from sbc_helpers.setup import configure

COUNTIES = [f"county {i}" for i in range(6)]


@pytest.fixture(autouse=True)
def cache_folder(tmp_path, monkeypatch):
    """An empty Numba cache for PyTensor's functions and the callbacks alike."""
    from pytensor.link.numba.cache import NumbaPyTensorCacheLocator

    configure()
    folder = tmp_path / "numba"
    folder.mkdir()
    monkeypatch.setattr(NumbaPyTensorCacheLocator, "get_cache_path", lambda self: str(folder))
    return folder


def _radon(floor: np.ndarray, county: np.ndarray, log_radon: np.ndarray, prior_scale: float = 5.0) -> pm.Model:
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


def _sample(compiled) -> dict[str, np.ndarray]:
    idata = nutpie.sample(compiled, draws=100, tune=100, chains=2, cores=1, seed=3, progress_bar=False)
    return {name: idata.posterior[name].to_numpy() for name in idata.posterior.data_vars}


def _assert_same_draws(compiled, model: pm.Model) -> None:
    ours, nutpies = _sample(compiled), _sample(nutpie.compile_pymc_model(model, backend="numba"))
    assert ours.keys() == nutpies.keys()
    for name in ours:
        np.testing.assert_array_equal(ours[name], nutpies[name], err_msg=name)


def _hits(compiled) -> tuple[int, int]:
    return compiled.compiled_logp_func._cache_hits, compiled.compiled_expand_func._cache_hits


def test_a_second_compile_loads_both_callbacks_and_samples_what_nutpie_samples():
    first = callbacks.compile_pymc_model(_radon(*_data(1)))
    assert _hits(first) == (0, 0)
    model = _radon(*_data(2))  # the next replicate: a new model object, other data
    second = callbacks.compile_pymc_model(model)
    assert _hits(second) == (1, 1)
    _assert_same_draws(second, model)


def test_a_graph_or_data_shape_that_differs_compiles_its_own_callbacks():
    callbacks.compile_pymc_model(_radon(*_data(1)))
    other_prior = callbacks.compile_pymc_model(_radon(*_data(1), prior_scale=6.0))
    assert _hits(other_prior) == (0, 0)
    other_size = callbacks.compile_pymc_model(_radon(*_data(1, n=30)))
    assert _hits(other_size)[0] == 0  # the log-density reads the data; the expansion reads none


def _vector(size: int) -> pm.Model:
    """One free vector that fills the whole point: its graph is the same for every size."""
    with pm.Model(coords={"site": range(size)}) as model:
        pm.Normal("effect", 0.0, 1.0, dims="site")
    return model


def test_a_model_of_another_dimension_gets_its_own_callbacks():
    callbacks.compile_pymc_model(_vector(3))
    model = _vector(4)
    compiled = callbacks.compile_pymc_model(model)
    assert _hits(compiled) == (0, 0)
    _assert_same_draws(compiled, model)  # loaded for 3 values, the callbacks refuse 4 (nutpie's error -1)


def _two_inputs(order: str) -> pm.Model:
    """The same deterministic of ``x``, and a likelihood that reads ``x`` and ``y`` in ``order``:
    nutpie's record holds them in that order."""
    rng = np.random.default_rng(0)
    with pm.Model(coords={"obs": range(20)}) as model:
        x = pm.Data("x", rng.normal(size=20), dims="obs")
        y = pm.Data("y", rng.normal(size=20), dims="obs")
        a, b = pm.Normal("a"), pm.Normal("b")
        pm.Deterministic("mu", a + b * x, dims="obs")
        mean = x * b + y * a if order == "xy" else y * a + x * b
        pm.Normal("z", mean, 1.0, observed=rng.normal(size=20), dims="obs")
    return model


def test_an_expansion_reads_its_data_from_its_own_place_in_the_record():
    first = callbacks.compile_pymc_model(_two_inputs("xy"))
    model = _two_inputs("yx")
    swapped = callbacks.compile_pymc_model(model)
    records = [[next(v.name for v, k in c.shared_var_keys.items() if k == key)
                for key in c.user_data.dtype["shared"]["data"].names] for c in (first, swapped)]
    assert records == [["x", "y"], ["y", "x"]]
    assert _hits(swapped)[1] == 0
    _assert_same_draws(swapped, model)  # ``mu`` from ``x``, not from ``y``


def test_the_patches_are_undone_after_a_compile_and_after_a_failure(monkeypatch):
    originals = numba.cfunc, compile_pymc._make_c_logp_func, compile_pymc._make_c_expand_func
    callbacks.compile_pymc_model(_vector(2))
    assert (numba.cfunc, compile_pymc._make_c_logp_func, compile_pymc._make_c_expand_func) == originals

    def fails(*args, **kwargs):
        raise RuntimeError("planted")

    monkeypatch.setattr(compile_pymc, "_make_functions", fails)
    with pytest.raises(RuntimeError, match="planted"):
        callbacks.compile_pymc_model(_vector(2))
    assert (numba.cfunc, compile_pymc._make_c_logp_func, compile_pymc._make_c_expand_func) == originals


def test_with_the_cache_off_nutpie_compiles_as_it_always_does(monkeypatch, cache_folder):
    monkeypatch.setattr(pytensor.config, "numba__cache", False)
    compiled = callbacks.compile_pymc_model(_radon(*_data(1)))
    assert _hits(compiled) == (0, 0)
    assert not list(cache_folder.glob("*sbc-callback*"))
