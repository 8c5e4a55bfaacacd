"""Compiled functions reused across replicates give exactly what compiling anew gives, and are
never reused for a model that differs (another design, other dims, other data shapes)."""

import numpy as np
import pymc as pm
import pytest

from sbc_helpers.compiled.cache import CACHE, PYTHON_MODE
from sbc_helpers.compiled.log_likelihood import log_likelihood_totals
from sbc_helpers.compiled.shared import shared_condition
from sbc_helpers.inference import fit
from sbc_helpers.models.designs import seed_design
from sbc_helpers.models.library import MODEL_DESIGNS, MODELS, hierarchical_noncentered, linear_regression
from sbc_helpers.models.references import make_design
from sbc_helpers.simulation.prior import prior_draw, simulate

TINY = {"method": "nuts", "sampler": "nutpie", "draws": 100, "tune": 100, "chains": 2, "cores": 1}


@pytest.fixture
def empty_cache():
    CACHE.clear()
    yield CACHE
    CACHE.clear()


def _draws(fitted) -> dict[str, np.ndarray]:
    posterior = fitted.idata["posterior"].to_dataset()
    return {name: posterior[name].to_numpy() for name in posterior.data_vars}


def test_a_reused_sampler_gives_the_draws_of_a_fresh_compile(empty_cache, tiny_design):
    first = hierarchical_noncentered(tiny_design)
    fit(first, simulate(first, seed=1).data, seed=5, **TINY)  # compiles
    model = hierarchical_noncentered(tiny_design)  # a new model object, as in the next replicate
    data = simulate(model, seed=2).data
    reused = _draws(fit(model, data, seed=7, **TINY))
    assert (empty_cache.hits["nutpie"], empty_cache.misses["nutpie"]) == (1, 1)
    empty_cache.clear()
    fresh = _draws(fit(hierarchical_noncentered(tiny_design), data, seed=7, **TINY))
    assert empty_cache.misses["nutpie"] == 1
    assert reused.keys() == fresh.keys()
    for name in fresh:
        np.testing.assert_array_equal(reused[name], fresh[name], err_msg=name)


def test_a_model_on_another_design_compiles_its_own_sampler(empty_cache):
    small, other_x = seed_design(n_groups=3, n_points=5, seed=1), seed_design(n_groups=3, n_points=5, seed=2)
    data = simulate(hierarchical_noncentered(small), seed=3).data
    fit(hierarchical_noncentered(small), data, seed=4, **TINY)
    after_other = _draws(fit(hierarchical_noncentered(other_x), data, seed=4, **TINY))  # same shapes, other x
    more_groups = seed_design(n_groups=4, n_points=5, seed=1)
    fit(hierarchical_noncentered(more_groups), simulate(hierarchical_noncentered(more_groups), seed=3).data,
        seed=4, **TINY)
    assert (empty_cache.hits["nutpie"], empty_cache.misses["nutpie"]) == (0, 3)
    empty_cache.clear()
    alone = _draws(fit(hierarchical_noncentered(other_x), data, seed=4, **TINY))
    for name in alone:
        np.testing.assert_array_equal(after_other[name], alone[name], err_msg=name)


@pytest.mark.parametrize("kind", ["advi", "fullrank_advi"])
def test_a_reused_variational_fit_is_pymcs_own_fit_for_each_data_set(empty_cache, tiny_design, kind):
    """ADVI compiles its step once per model; each later data set gets exactly what pm.fit and
    approx.sample give on it with the same seed (the step's state and generators start afresh)."""
    settings = {"method": kind, "iterations": 300, "draws": 50}
    data_sets = [simulate(hierarchical_noncentered(tiny_design), seed=s).data for s in (1, 2)]
    reused = [_draws(fit(hierarchical_noncentered(tiny_design), data, seed=10 + i, **settings))
              for i, data in enumerate(data_sets)]
    assert (empty_cache.hits[kind], empty_cache.misses[kind]) == (1, 1)
    for i, data in enumerate(data_sets):
        conditioned, _ = shared_condition(hierarchical_noncentered(tiny_design), data)
        approx = pm.fit(n=300, method=kind, model=conditioned, random_seed=10 + i, progressbar=False)
        expected = approx.sample(50, random_seed=10 + i)["posterior"]
        for name in expected.data_vars:
            np.testing.assert_array_equal(reused[i][name], expected[name].to_numpy(), err_msg=f"{i} {name}")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_prior_draws_equal_pymcs_prior_predictive_whether_compiled_or_reused(empty_cache, name):
    design = make_design(MODEL_DESIGNS[name])
    for seed in (11, 12):
        model = MODELS[name](design)
        ours = prior_draw(model, seed)
        reference = pm.sample_prior_predictive(draws=1, model=model, random_seed=seed)
        for group in ("prior", "prior_predictive"):
            for var in reference[group].data_vars:
                np.testing.assert_array_equal(ours[var], reference[group][var].to_numpy()[0, 0], err_msg=var)
    assert empty_cache.hits["prior"] == 1


def test_log_likelihood_totals_equal_pymcs_pointwise_sums_for_each_data_set(empty_cache):
    design = make_design(MODEL_DESIGNS["linear_regression"])
    for seed in (1, 2):
        model = linear_regression(design)
        data = simulate(model, seed=seed).data
        fitted = fit(model, data, seed=seed, **TINY)
        posterior = fitted.idata["posterior"].to_dataset().isel(chain=0, draw=slice(0, 10))
        points = {rv.name: posterior[rv.name].to_numpy() for rv in model.free_RVs}
        ours = log_likelihood_totals(model, data, points)
        pointwise = pm.compute_log_likelihood(
            fitted.idata.isel(chain=[0], draw=slice(0, 10)), model=pm.observe(model, data),
            extend_inferencedata=False, progressbar=False)["y"]
        totals = pointwise.sum([d for d in pointwise.dims if d not in ("chain", "draw")]).to_numpy()[0]
        np.testing.assert_allclose(ours, totals, rtol=1e-10)
    assert empty_cache.hits["log_likelihood"] == 1


def test_data_for_a_variable_that_is_not_observed_is_a_one_line_error(tiny_design):
    model = hierarchical_noncentered(tiny_design)
    with pytest.raises(ValueError, match="not observed variables of the model: alpha$"):
        shared_condition(model, {"alpha": np.zeros(3)})



def test_a_function_compiled_in_the_preflights_mode_never_serves_a_replicate(empty_cache, tiny_design):
    """The preflight compiles with PyTensor's Python linker; a replicate after it in the same process
    must compile its own Numba function, or its draws would be the Python linker's."""
    import pytensor

    model = hierarchical_noncentered(tiny_design)
    with pytensor.config.change_flags(mode=PYTHON_MODE):
        checked = prior_draw(model, seed=3)
    drawn = prior_draw(hierarchical_noncentered(tiny_design), seed=3)
    assert empty_cache.misses["prior"] == 2 and empty_cache.hits["prior"] == 0
    linkers = {type(entry.function[0].maker.linker).__name__ for entry in empty_cache.entries}
    assert len(linkers) == 2, linkers
    for name in checked:  # both are draws of the same prior with the same seed, to rounding
        np.testing.assert_allclose(checked[name], drawn[name], rtol=1e-12)
