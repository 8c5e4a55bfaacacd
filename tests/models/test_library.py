"""The model library: every model builds on its design, samples, and the exact posteriors are exact.

Sampling uses PyMC's own NUTS with tiny settings (it compiles faster than nutpie for one-off
models): these tests check wiring and shapes. The statistical tests use the exact conjugate
posteriors, which are cheap, with fixed seeds; their tolerances are explained where they are set.
"""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from sbc_helpers.models import library as models
from sbc_helpers.stats.calibrate import calibration_table, chi2_p_value
from sbc_helpers.models.designs import DESIGNS, eight_schools_design, normal_normal_design
from sbc_helpers.inference import condition, fit
from sbc_helpers.models.library import (
    EXACT_POSTERIORS,
    MODEL_DESIGNS,
    MODELS,
    beta_binomial,
    beta_binomial_posterior,
    normal_normal,
    normal_normal_posterior,
    observed_value,
)
from sbc_helpers.models.references import make_design, resolve_model
from sbc_helpers.run.steps import default_quantities, run_replicate
from sbc_helpers.simulation.prior import simulate

FREE = {
    "hierarchical_centered": {"mu_alpha", "sigma_alpha", "mu_beta", "sigma_beta", "alpha", "beta", "sigma"},
    "hierarchical_noncentered": {"mu_alpha", "sigma_alpha", "mu_beta", "sigma_beta", "z_alpha", "z_beta", "sigma"},
    "eight_schools_centered": {"mu", "tau", "theta"},
    "eight_schools_noncentered": {"mu", "tau", "eta"},
    "linear_regression": {"intercept", "beta", "sigma"},
    "logistic_regression": {"intercept", "beta"},
    "poisson_varying_intercepts": {"mu_a", "sigma_a", "z_a", "beta"},
    "normal_normal": {"mu"},
    "beta_binomial": {"p"},
}
DETERMINISTIC = {
    "hierarchical_centered": {"mu"},
    "hierarchical_noncentered": {"alpha", "beta", "mu"},
    "eight_schools_noncentered": {"theta"},
    "poisson_varying_intercepts": {"a"},
}
TINY_NUTS = {"method": "nuts", "sampler": "pymc", "draws": 30, "tune": 30, "chains": 1}


def library_design(name: str) -> pd.DataFrame:
    return make_design(MODEL_DESIGNS[name])


def test_every_model_is_registered_with_a_design_and_a_one_line_docstring():
    assert set(FREE) == set(MODELS) == set(MODEL_DESIGNS)
    for name, builder in MODELS.items():
        assert builder.__name__ == name and resolve_model(name) is builder
        assert MODEL_DESIGNS[name]["maker"] in DESIGNS
        summary = builder.__doc__.strip().splitlines()[0]
        assert summary.endswith(".") and len(summary) > 20, name
    assert set(EXACT_POSTERIORS) == {"normal_normal", "beta_binomial"}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_builds_on_its_design_with_the_expected_variables(name):
    model = MODELS[name](library_design(name))
    assert [rv.name for rv in model.observed_RVs] == ["y"]
    assert {rv.name for rv in model.free_RVs} == FREE[name]
    assert {d.name for d in model.deterministics} == DETERMINISTIC.get(name, set())


@pytest.mark.parametrize("name", sorted(set(MODELS) - set(EXACT_POSTERIORS)))
def test_model_simulates_and_samples_briefly_with_its_dims(name):
    model = MODELS[name](library_design(name))
    result = run_replicate(model, 0, 123, TINY_NUTS, rank_draws=10)  # log_lik too: counts and binary data
    assert result.record.status == "ok"
    dims = model.named_vars_to_dims
    kept = {str(v) for v in result.archive.data_vars if not str(v).startswith(("true__", "data__"))}
    assert FREE[name] <= kept
    for var in kept:  # the archive's draws carry the model's own dims
        assert set(result.archive[var].dims) == {"draw", *dims.get(var, ())}, var
    assert result.ranks["rank"].between(0, 10).all()


def test_eight_schools_design_is_the_stan_users_guide_data():
    design = eight_schools_design()
    assert list(design.columns) == ["school", "sigma", "y"]
    assert list(design["sigma"]) == [15, 10, 16, 11, 9, 11, 10, 18]
    assert list(design["y"]) == [28, 8, -3, 7, -1, 1, 18, 12]


@pytest.mark.parametrize("name", ["eight_schools_centered", "eight_schools_noncentered"])
def test_eight_schools_observes_each_school_with_its_known_sigma(name):
    design = eight_schools_design()
    model = MODELS[name](design)
    assert list(model.coords["school"]) == list("ABCDEFGH")
    assert model.named_vars_to_dims["theta"] == ("school",)
    np.testing.assert_array_equal(observed_value(model), design["y"])
    # the prior predictive spread of y - theta is each school's sigma: the likelihood reads the design
    simulation = simulate(model, seed=5)
    # theta is a school-level parameter, ranked by default in both parametrisations
    assert "theta" in default_quantities(model, simulation)


def test_noncentered_eight_schools_theta_is_mu_plus_tau_eta():
    t = simulate(models.eight_schools_noncentered(eight_schools_design()), seed=3).truth
    np.testing.assert_allclose(t["theta"], t["mu"] + t["tau"] * t["eta"])


def test_regressions_read_every_x_column_or_the_named_covariates():
    design = DESIGNS["regression_design"](n_points=20, n_covariates=3).assign(other=1.0)
    assert list(models.linear_regression(design).coords["covariate"]) == ["x1", "x2", "x3"]
    chosen = models.logistic_regression(design, covariates=["x2", "other"])
    assert list(chosen.coords["covariate"]) == ["x2", "other"]
    with pytest.raises(ValueError, match="no covariate column named x, x1, x2"):
        models.linear_regression(design[["other"]])


def test_missing_design_column_is_a_one_line_error_naming_it():
    with pytest.raises(ValueError, match=r"the design has no column 'sigma' \(it has: school, y\)"):
        models.eight_schools_centered(eight_schools_design().drop(columns="sigma"))


# --- exact posteriors ----------------------------------------------------------------------------


def _normal_normal_case():
    design = pd.DataFrame({"sigma": [0.5, 1.0, 2.0, 1.5], "y": [1.2, 0.4, 2.5, -0.3]})
    model = normal_normal(design, m0=1.0, s0=2.0)
    precision = 1 / 2.0**2 + np.sum(1 / design["sigma"] ** 2)
    mean = (1.0 / 2.0**2 + np.sum(design["y"] / design["sigma"] ** 2)) / precision
    return model, design, mean, 1 / np.sqrt(precision)


def test_normal_normal_posterior_matches_the_formula():
    model, _, mean, sd = _normal_normal_case()
    draws = normal_normal_posterior(model, np.random.default_rng(1), 40_000)["mu"]
    # 40,000 independent draws: the mean's standard error is sd / 200, the sd's about sd / 283;
    # 5 standard errors keeps a fixed-seed test far from flaky and still catches any formula slip.
    assert abs(draws.mean() - mean) < 5 * sd / 200
    assert abs(draws.std() - sd) < 5 * sd / 283


def test_exact_posteriors_read_the_conditioned_model_not_the_design():
    model, design, *_ = _normal_normal_case()
    data = {"y": np.array([10.0, 10.0, 10.0, 10.0])}
    conditioned = condition(model, data)
    np.testing.assert_array_equal(observed_value(conditioned), data["y"])
    precision = 1 / 4 + np.sum(1 / design["sigma"] ** 2)
    expected = (1 / 4 + np.sum(10.0 / design["sigma"] ** 2)) / precision
    draws = normal_normal_posterior(conditioned, np.random.default_rng(2), 20_000)["mu"]
    assert abs(draws.mean() - expected) < 0.02
    # hyperparameters come from the model too: a tight prior at 5 pins the posterior there
    pinned = normal_normal(design, m0=5.0, s0=1e-4)
    assert abs(normal_normal_posterior(pinned, np.random.default_rng(3), 100)["mu"].mean() - 5.0) < 1e-3


def test_normal_normal_takes_a_scalar_sigma_without_a_sigma_column():
    model = normal_normal(pd.DataFrame({"y": [0.0, 1.0]}), sigma=3.0)
    np.testing.assert_array_equal(models.data_value(model, "sigma"), [3.0, 3.0])


def test_beta_binomial_posterior_agrees_with_a_long_nuts_run():
    design = pd.DataFrame({"n": [10, 20, 5], "y": [3, 12, 1]})
    model = beta_binomial(design, a=2.0, b=3.0)
    exact = beta_binomial_posterior(model, np.random.default_rng(4), 20_000)["p"]
    a, b = 2 + 16, 3 + 19  # Beta(a + sum y, b + sum(n - y))
    assert abs(exact.mean() - a / (a + b)) < 0.003
    nuts = fit(model, {"y": design["y"].to_numpy()}, seed=5, sampler="pymc", draws=2000, tune=500, chains=2)
    p = nuts.idata["posterior"].to_dataset()["p"].to_numpy().ravel()
    # posterior sd is 0.077; NUTS's 4000 draws have an ESS of about 1500, so the mean's MCSE is
    # about 0.002; 0.01 is 5 MCSE. The sd itself agrees to within 10%.
    assert abs(p.mean() - exact.mean()) < 0.01
    assert abs(p.std() / exact.std() - 1) < 0.1


def test_exact_method_through_fit_gives_a_posterior_with_the_models_dims():
    model = normal_normal(normal_normal_design(5))
    fitted = fit(model, {"y": np.zeros(5)}, seed=1, method="exact",
                 function="sbc_helpers.models:normal_normal_posterior", draws=50)
    assert isinstance(fitted.idata, xr.DataTree)
    assert fitted.idata["posterior"].to_dataset()["mu"].dims == ("chain", "draw")


@pytest.mark.parametrize("name", sorted(EXACT_POSTERIORS))
def test_sbc_with_exact_posteriors_gives_uniform_ranks(name):
    # The type-I check of the whole workflow: with exact posterior draws, ranks are uniform by
    # construction, so every uniformity test must pass. 200 replicates at L = 49; the seeds are
    # fixed, so the outcome is deterministic; under uniformity it fails for at most 5% of seed
    # choices (calibration_table's Holm-adjusted level) and 0.1% for the chi-square floor.
    # The log-likelihood rank is left out here: it compiles a function per replicate (~0.7 s).
    model = MODELS[name](library_design(name))
    inference = {"method": "exact", "function": f"sbc_helpers.models:{name}_posterior", "draws": 49}
    ranks = pd.concat([run_replicate(model, r, 10_000 + r, inference, rank_draws=49, log_likelihood=False).ranks
                       .assign(replicate=r) for r in range(200)])
    table = calibration_table(ranks)
    assert table["calibrated"].all(), table
    assert chi2_p_value(ranks["rank"].to_numpy(), 49) > 0.001
