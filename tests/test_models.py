import numpy as np
import pytest
import xarray as xr

from sbc_helpers.designs import group_codes
from sbc_helpers.fit import SAMPLERS, Fit, condition, fit
from sbc_helpers.models import MODELS, hierarchical_centered, hierarchical_noncentered

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


def test_library_lists_both_models():
    assert MODELS == {
        "hierarchical_centered": hierarchical_centered,
        "hierarchical_noncentered": hierarchical_noncentered,
    }


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_builds_from_design_with_observed_y_and_expected_variables(name, tiny_design):
    model = MODELS[name](tiny_design)
    assert [rv.name for rv in model.observed_RVs] == ["y"]
    assert {rv.name for rv in model.free_RVs} == FREE_RVS[name]
    assert {d.name for d in model.deterministics} == DETERMINISTICS[name]
    assert list(model.coords["group"]) == ["A", "B", "C"]
    assert len(model.coords["obs"]) == len(tiny_design)
    np.testing.assert_allclose(_observed_values(model), tiny_design["y"].to_numpy())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_builds_from_design_without_outcome_column(name, tiny_design):
    model = MODELS[name](tiny_design.drop(columns="y"))
    assert [rv.name for rv in model.observed_RVs] == ["y"]
    observed = _observed_values(model)
    assert observed.shape == (len(tiny_design),)
    np.testing.assert_array_equal(observed, 0.0)


@pytest.mark.parametrize("name", sorted(MODELS))
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
    with pytest.raises(ValueError, match="unknown sampler 'stan'") as err:
        fit(centered_model, {"y": np.zeros(15)}, seed=1, sampler="stan")
    assert all(s in str(err.value) for s in SAMPLERS)
