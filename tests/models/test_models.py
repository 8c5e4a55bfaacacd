from pathlib import Path

import numpy as np
import pymc as pm
import pytest
import xarray as xr

from sbc_helpers.models.designs import group_codes
from sbc_helpers.errors import ParamsError
from sbc_helpers.inference import METHODS, Fit, condition, fit
from sbc_helpers.models.library import MODEL_DESIGNS, MODELS, hierarchical_centered, hierarchical_noncentered
from sbc_helpers.models.references import make_design

HYPER = {"mu_alpha", "sigma_alpha", "mu_beta", "sigma_beta", "sigma"}
FREE_RVS = {
    "hierarchical_centered": HYPER | {"alpha", "beta"},
    "hierarchical_noncentered": HYPER | {"z_alpha", "z_beta"},
}
DETERMINISTICS = {
    "hierarchical_centered": {"mu"},
    "hierarchical_noncentered": {"alpha", "beta", "mu"},
}


def _observed_values(model, name="y"):
    return np.asarray(model.rvs_to_values[model[name]].data)


HIERARCHICAL = sorted(FREE_RVS)  # the seed's models, built on seed_design


def test_library_lists_both_hierarchical_models():
    assert MODELS["hierarchical_centered"] is hierarchical_centered
    assert MODELS["hierarchical_noncentered"] is hierarchical_noncentered
    assert set(MODEL_DESIGNS) == set(MODELS)  # every library model names the design it goes with


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_library_model_builds_on_its_design_with_an_observed_y(name):
    design = make_design(MODEL_DESIGNS[name])
    model = MODELS[name](design)
    assert [rv.name for rv in model.observed_RVs] == ["y"]
    assert model.free_RVs
    assert _observed_values(model).shape == (len(design),)
    without = MODELS[name](design.drop(columns="y", errors="ignore"))
    np.testing.assert_array_equal(_observed_values(without), 0)  # SBC replaces the outcome anyway


@pytest.mark.parametrize("name", HIERARCHICAL)
def test_model_builds_from_design_with_observed_y_and_expected_variables(name, tiny_design):
    model = MODELS[name](tiny_design)
    assert [rv.name for rv in model.observed_RVs] == ["y"]
    assert {rv.name for rv in model.free_RVs} == FREE_RVS[name]
    assert {d.name for d in model.deterministics} == DETERMINISTICS[name]
    assert list(model.coords["group"]) == ["A", "B", "C"]
    assert len(model.coords["obs"]) == len(tiny_design)
    np.testing.assert_allclose(_observed_values(model), tiny_design["y"].to_numpy())


@pytest.mark.parametrize("name", HIERARCHICAL)
def test_model_builds_from_design_without_outcome_column(name, tiny_design):
    model = MODELS[name](tiny_design.drop(columns="y"))
    assert [rv.name for rv in model.observed_RVs] == ["y"]
    observed = _observed_values(model)
    assert observed.shape == (len(tiny_design),)
    np.testing.assert_array_equal(observed, 0.0)


@pytest.mark.parametrize("name", HIERARCHICAL)
def test_group_level_parameters_have_group_dim(name, tiny_design):
    model = MODELS[name](tiny_design)
    assert model.named_vars_to_dims["alpha"] == ("group",)
    assert model.named_vars_to_dims["beta"] == ("group",)
    assert model.named_vars_to_dims["mu"] == ("obs",)
    assert model.named_vars_to_dims["y"] == ("obs",)


def test_noncentered_alpha_beta_are_deterministics_with_group_dim(noncentered_model):
    dets = {d.name: d for d in noncentered_model.deterministics}
    assert {"alpha", "beta"} <= set(dets)
    assert noncentered_model.named_vars_to_dims["alpha"] == ("group",)
    assert noncentered_model.named_vars_to_dims["beta"] == ("group",)
    assert "alpha" not in {rv.name for rv in noncentered_model.free_RVs}


def test_noncentered_prior_draw_is_wired_through_the_design(
    noncentered_simulation, tiny_design
):
    # The builder must use each row's group and x: mu = alpha[g] + beta[g] * x, and the
    # non-centred parametrisation alpha = mu_alpha + sigma_alpha * z_alpha.
    t = noncentered_simulation.truth
    idx, _ = group_codes(tiny_design)
    x = tiny_design["x"].to_numpy()
    alpha, beta = t["alpha"].to_numpy(), t["beta"].to_numpy()
    np.testing.assert_allclose(t["mu"].to_numpy(), alpha[idx] + beta[idx] * x)
    np.testing.assert_allclose(
        alpha, float(t["mu_alpha"]) + float(t["sigma_alpha"]) * t["z_alpha"].to_numpy()
    )
    np.testing.assert_allclose(
        beta, float(t["mu_beta"]) + float(t["sigma_beta"]) * t["z_beta"].to_numpy()
    )
    assert list(noncentered_simulation.data) == ["y"]
    assert noncentered_simulation.data["y"].shape == (len(tiny_design),)
    # the truth is a single draw: no sample dims left
    assert "chain" not in t.dims and "draw" not in t.dims


def test_condition_sets_observed_data_without_touching_the_original(centered_model, tiny_design):
    data = {"y": np.arange(len(tiny_design), dtype=float)}
    conditioned = condition(centered_model, data)
    np.testing.assert_array_equal(_observed_values(conditioned), data["y"])
    np.testing.assert_allclose(_observed_values(centered_model), tiny_design["y"].to_numpy())


def test_fit_returns_datatree_with_posterior(centered_fit, centered_simulation, tiny_design):
    assert isinstance(centered_fit, Fit)
    idata = centered_fit.idata
    assert isinstance(idata, xr.DataTree)
    assert {"posterior", "sample_stats", "observed_data"} <= set(idata.children)
    posterior = idata["posterior"].to_dataset()
    assert posterior.sizes["chain"] == 2
    assert posterior.sizes["draw"] == 100
    assert FREE_RVS["hierarchical_centered"] | {"mu"} <= set(posterior.data_vars)
    assert list(posterior["alpha"].coords["group"].to_numpy()) == ["A", "B", "C"]
    assert np.isfinite(posterior["alpha"].to_numpy()).all()
    assert "diverging" in idata["sample_stats"].to_dataset()
    assert centered_fit.seconds > 0


def test_fit_conditions_on_the_data_passed_not_the_design(centered_fit, centered_simulation):
    observed = centered_fit.idata["observed_data"].to_dataset()["y"].to_numpy()
    np.testing.assert_allclose(observed, centered_simulation.data["y"])


def test_fit_rejects_unknown_sampler_before_sampling(centered_model):
    with pytest.raises(ParamsError, match="inference.sampler: Input should be 'nutpie', 'pymc', 'numpyro' or 'blackjax'"):
        fit(centered_model, {"y": np.zeros(15)}, seed=1, sampler="stan")


# --- inference methods other than NUTS ----------------------------------------------------------

THIS_FILE = Path(__file__).resolve()


def _normal_model():
    with pm.Model(coords={"k": ["a", "b"]}) as model:
        theta = pm.Normal("theta", 0, 1, dims="k")
        pm.Normal("y", theta.sum(), 1, observed=np.zeros(4))
    return model


def posterior_as_dict(model, rng, draws):
    """A "custom" method: draws of every free variable, draws first."""
    return {"theta": rng.normal(size=(draws, 2))}


def posterior_as_datatree(model, rng, draws):
    posterior = xr.Dataset({"theta": (("chain", "draw", "k"), rng.normal(size=(2, draws, 2)))},
                           coords={"k": ["a", "b"]})
    return xr.DataTree.from_dict({"posterior": posterior})


def posterior_as_list(model, rng, draws):
    return [1, 2, 3]


def test_fit_rejects_unknown_method_before_fitting(centered_model):
    with pytest.raises(ValueError, match="unknown inference method 'hmc'") as err:
        fit(centered_model, {"y": np.zeros(15)}, seed=1, method="hmc")
    assert all(m in str(err.value) for m in METHODS)


def test_custom_method_with_a_dict_of_draws_gets_the_models_dims():
    fitted = fit(_normal_model(), {"y": np.ones(4)}, seed=2, method="custom",
                 function=f"{THIS_FILE}:posterior_as_dict", draws=30, label="mine")
    posterior = fitted.idata["posterior"].to_dataset()
    assert posterior["theta"].dims == ("chain", "draw", "k")
    assert dict(posterior["theta"].sizes) == {"chain": 1, "draw": 30, "k": 2}
    assert list(posterior["k"].to_numpy()) == ["a", "b"]
    again = fit(_normal_model(), {"y": np.ones(4)}, seed=2, method="custom",
                function=f"{THIS_FILE}:posterior_as_dict", draws=30)
    np.testing.assert_array_equal(again.idata["posterior"]["theta"], posterior["theta"])  # seeded rng


def test_custom_method_may_return_a_datatree():
    fitted = fit(_normal_model(), {"y": np.ones(4)}, seed=2, method="custom",
                 function=f"{THIS_FILE}:posterior_as_datatree", draws=10)
    assert dict(fitted.idata["posterior"].to_dataset()["theta"].sizes) == {"chain": 2, "draw": 10, "k": 2}


def test_custom_method_returning_something_else_is_a_type_error():
    with pytest.raises(TypeError, match="returned list; expected a dict of draws"):
        fit(_normal_model(), {"y": np.ones(4)}, seed=2, method="exact",
            function=f"{THIS_FILE}:posterior_as_list", draws=10)


def test_advi_returns_the_requested_number_of_draws():
    fitted = fit(_normal_model(), {"y": np.full(4, 2.0)}, seed=5, method="advi", draws=50, iterations=500)
    posterior = fitted.idata["posterior"].to_dataset()
    assert dict(posterior["theta"].sizes) == {"chain": 1, "draw": 50, "k": 2}
    assert np.isfinite(posterior["theta"].to_numpy()).all()
