"""The log-likelihood of every model shape: vectorised over draws where that gives PyMC's values,
point by point where it does not (a scalar ``pm.AR`` coefficient breaks the vectorised graph)."""

from pathlib import Path

import numpy as np
import pymc as pm
import pytensor
import pytest

from sbc_helpers.compiled.cache import CACHE, PYTHON_MODE
from sbc_helpers.compiled.log_likelihood import log_likelihood_totals
from sbc_helpers.models.references import load_function, make_design
from sbc_helpers.run.params import Campaign
from sbc_helpers.run.preflight import preflight
from sbc_helpers.simulation.prior import prior_draw

GALLERY = Path(__file__).resolve().parents[1] / "gallery"
SHAPES = {  # gallery model: its design maker
    "ar_scalar": "days_of_series",
    "ar_vector": "days_of_series",
    "random_walk": "weeks",
    "spatial_gp": "stations",
    "mixture": "runners",
    "custom_scan": "days_of_series",
}


@pytest.fixture
def empty_cache():
    """An empty function cache, and PyTensor's Python linker for everything compiled, as in the
    preflight: Numba would spend seconds compiling what these checks evaluate once."""
    CACHE.clear()
    with pytensor.config.change_flags(mode=PYTHON_MODE):
        yield CACHE
    CACHE.clear()


def _model(shape: str) -> pm.Model:
    design = make_design({"maker": f"{GALLERY}/designs.py:{SHAPES[shape]}"})
    return load_function(f"{GALLERY}/models.py:{shape}")(design)


def _pymc_totals(model: pm.Model, data: dict, points: dict) -> np.ndarray:
    """PyMC's log-likelihood of ``data``, one point at a time: ``pm.logp`` of each observed
    variable, its parameters' variables given their values (on their own scale)."""
    from pymc.logprob.utils import replace_rvs_by_values

    free = list(model.free_RVs)
    values = [rv.type(name=rv.name) for rv in free]
    observed = replace_rvs_by_values(model.observed_RVs, rvs_to_values=dict(zip(free, values, strict=True)))
    total = sum(pm.logp(rv, data[name.name]).sum() for rv, name in zip(observed, model.observed_RVs, strict=True))
    function = pytensor.function(values, total, on_unused_input="ignore")
    n = len(next(iter(points.values())))
    return np.array([function(*(points[rv.name][i] for rv in free)) for i in range(n)])


@pytest.mark.parametrize("shape", list(SHAPES))
def test_each_shape_passes_the_preflight_and_gets_pymcs_log_likelihood(shape, empty_cache):
    spec = {"name": shape, "model": f"{GALLERY}/models.py:{shape}",
            "design": {"maker": f"{GALLERY}/designs.py:{SHAPES[shape]}"}}
    preflight(Campaign(name="shapes", seed=3, replicates=1, models=[spec]))
    model = _model(shape)
    draws = [prior_draw(model, seed) for seed in (1, 2, 3, 4)]
    data = {rv.name: draws[0][rv.name] for rv in model.observed_RVs}
    points = {rv.name: np.stack([d[rv.name] for d in draws]) for rv in model.free_RVs}
    ours = log_likelihood_totals(model, data, points)
    assert np.isfinite(ours).all(), ours
    np.testing.assert_allclose(ours, _pymc_totals(model, data, points), rtol=1e-9)


def test_a_model_whose_vectorised_log_likelihood_fails_is_evaluated_point_by_point_from_then_on(empty_cache,
                                                                                                   caplog):
    """The fall-back is decided once per compiled model: a later replicate (another model object,
    other data) reuses the point-by-point function without trying the vectorised one again."""
    model = _model("ar_scalar")
    draws = [prior_draw(model, seed) for seed in (1, 2, 3)]
    points = {rv.name: np.stack([d[rv.name] for d in draws]) for rv in model.free_RVs}
    with caplog.at_level("DEBUG", logger="sbc"):
        log_likelihood_totals(model, {"level": draws[0]["level"]}, points)
    assert "vectorised function ValueError: Runtime broadcasting not allowed" in caplog.text
    (entry,) = [e.function for e in empty_cache.entries if e.key[0] == "log_likelihood"]
    assert entry.vectorised is None
    again = _model("ar_scalar")
    data = {"level": draws[1]["level"]}
    np.testing.assert_allclose(log_likelihood_totals(again, data, points),
                               _pymc_totals(again, data, points), rtol=1e-9)
    assert empty_cache.hits["log_likelihood"] == 1 and empty_cache.misses["log_likelihood"] == 1


def test_a_vectorised_log_likelihood_that_differs_from_pymcs_is_replaced(empty_cache, caplog):
    """A vectorised graph that runs but gives other values than the point-by-point one is caught on
    its first evaluation; one that agrees is kept."""
    model = _model("random_walk")
    draws = [prior_draw(model, seed) for seed in (1, 2, 3)]
    data = {"sales": draws[0]["sales"]}
    points = {rv.name: np.stack([d[rv.name] for d in draws]) for rv in model.free_RVs}
    expected = _pymc_totals(model, data, points)
    log_likelihood_totals(model, data, points)
    (entry,) = [e.function for e in empty_cache.entries if e.key[0] == "log_likelihood"]
    assert entry.vectorised is not None and entry.checked
    right = entry.vectorised
    entry.vectorised, entry.checked = (lambda *arrays: right(*arrays) + [0, 0, 1e-6]), False
    with caplog.at_level("DEBUG", logger="sbc"):
        np.testing.assert_allclose(log_likelihood_totals(model, data, points), expected, rtol=1e-9)
    assert entry.vectorised is None and "where the point-by-point function gives" in caplog.text
