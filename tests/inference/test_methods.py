"""Every inference method end to end on a small model: a DataTree whose posterior has the model's
free variables and Deterministics, with the model's dims; and campaigns that compare methods.

Settings are tiny (tens of draws, hundreds of ADVI iterations): these tests check the plumbing,
not the quality of any approximation.
"""

import importlib.util
import textwrap

import numpy as np
import pymc as pm
import pytest
import xarray as xr

from sbc_helpers.models.designs import normal_normal_design
from sbc_helpers import inference
from sbc_helpers.errors import MethodUnavailable, ParamsError
from sbc_helpers.inference import METHODS, fit
from sbc_helpers.models.library import normal_normal
from sbc_helpers.run.params import Campaign
from sbc_helpers.run.steps import run_replicate
from sbc_helpers.run.preflight import preflight
from sbc_helpers.simulation.prior import simulate

GROUPS = ["A", "B", "C"]

CUSTOM = textwrap.dedent("""
    import numpy as np
    import pymc as pm


    def free_only(model, rng, draws):
        # independent draws of the free variables only; fit computes the Deterministic a2
        return {"mu": rng.normal(size=draws), "s": rng.gamma(2.0, size=draws), "a": rng.normal(size=(draws, 3))}


    def model_only(model):
        return {"mu": np.zeros(7), "s": np.ones(7), "a": np.zeros((7, 3))}


    def datatree(model, rng, draws):
        return pm.sample(draws=draws, tune=20, chains=1, model=model, random_seed=rng, progressbar=False,
                         nuts_sampler="pymc", compute_convergence_checks=False)


    def incomplete(model, rng, draws):
        return {"mu": np.zeros(draws)}
""")


@pytest.fixture(scope="module")
def small_model():
    """Three group means with one Deterministic, all with dims: cheap to compile and sample."""
    with pm.Model(coords={"group": GROUPS, "obs": np.arange(6)}) as model:
        mu = pm.Normal("mu", 0, 1)
        s = pm.HalfNormal("s", 1)
        a = pm.Normal("a", mu, 1, dims="group")
        pm.Deterministic("a2", 2 * a, dims="group")
        pm.Normal("y", a[[0, 0, 1, 1, 2, 2]], s, observed=np.zeros(6), dims="obs")
    return model


@pytest.fixture(scope="module")
def small_data(small_model):
    return simulate(small_model, seed=7).data


@pytest.fixture(scope="module")
def custom_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("methods") / "my_methods.py"
    path.write_text(CUSTOM)
    return path


def assert_posterior_like_model(idata, model, n_draws):
    assert isinstance(idata, xr.DataTree)
    posterior = idata["posterior"].to_dataset()
    assert {"mu", "s", "a", "a2"} <= set(posterior.data_vars)
    assert posterior["a"].dims[:2] == ("chain", "draw")
    assert posterior["a"].dims[2:] == model.named_vars_to_dims["a"] == ("group",)
    assert posterior["a2"].dims[2:] == ("group",)
    assert list(posterior["a"].coords["group"].to_numpy()) == GROUPS
    assert posterior.sizes["chain"] * posterior.sizes["draw"] == n_draws
    np.testing.assert_allclose(posterior["a2"], 2 * posterior["a"])
    assert np.isfinite(posterior["a"].to_numpy()).all()


SETTINGS = {
    "nuts-nutpie": ({"method": "nuts", "sampler": "nutpie", "draws": 30, "tune": 30, "chains": 2}, 60),
    "nuts-pymc": ({"method": "nuts", "sampler": "pymc", "draws": 30, "tune": 30, "chains": 2}, 60),
    "advi": ({"method": "advi", "iterations": 300, "draws": 40}, 40),
    "fullrank_advi": ({"method": "fullrank_advi", "iterations": 300, "draws": 40}, 40),
}


@pytest.mark.parametrize("label", sorted(SETTINGS))
def test_builtin_method_returns_a_posterior_with_the_models_dims(label, small_model, small_data):
    settings, n_draws = SETTINGS[label]
    fitted = fit(small_model, small_data, seed=3, **settings)
    assert_posterior_like_model(fitted.idata, small_model, n_draws)
    assert fitted.seconds > 0


@pytest.fixture(scope="module")
def switchpoint():
    """A discrete free variable: where a mean changes along 12 points."""
    with pm.Model() as model:
        change = pm.DiscreteUniform("change", 0, 12)
        level = pm.Normal("level", 0, 2)
        pm.Normal("y", pm.math.switch(change > np.arange(12), 0.0, level), 0.5, observed=np.zeros(12))
    return model, simulate(model, seed=4).data


@pytest.mark.parametrize("settings", [{"method": "nuts", "sampler": "pymc", "draws": 40, "tune": 40, "chains": 2},
                                      {"method": "smc", "draws": 40, "chains": 2}])
def test_discrete_free_variables_are_sampled_by_the_methods_that_take_them(settings, switchpoint):
    model, data = switchpoint
    posterior = fit(model, data, seed=1, **settings).idata["posterior"]
    change = posterior["change"].to_numpy()
    assert posterior.sizes["chain"] * posterior.sizes["draw"] == 80
    np.testing.assert_array_equal(change, np.round(change))  # whole numbers, within the prior's range
    assert change.min() >= 0 and change.max() <= 12


@pytest.mark.parametrize("settings, what", [({"method": "nuts"}, "sampler 'nutpie'"),
                                            ({"method": "advi"}, "method 'advi'"),
                                            ({"method": "laplace"}, "method 'laplace'")])
def test_a_method_for_continuous_variables_refuses_a_discrete_one(settings, what, switchpoint):
    model, data = switchpoint
    with pytest.raises(MethodUnavailable, match=f"^{what} samples continuous variables only, and 'change' is "
                                                 "discrete: use {method: nuts, sampler: pymc}"):
        fit(model, data, seed=1, **settings)


def test_pathfinder_where_pymc_extras_is_installed(small_model, small_data):
    pytest.importorskip("pymc_extras")
    fitted = fit(small_model, small_data, seed=3, method="pathfinder", draws=40)
    assert_posterior_like_model(fitted.idata, small_model, 40)


@pytest.mark.parametrize("function, n_draws", [("free_only", 25), ("model_only", 7), ("datatree", 25)])
def test_custom_function_from_a_file(function, n_draws, small_model, small_data, custom_file):
    # free_only returns the free variables only (the Deterministic is computed), model_only takes
    # the model alone, datatree returns PyMC's own DataTree
    fitted = fit(small_model, small_data, seed=3, method="custom", function=f"{custom_file}:{function}", draws=25)
    assert_posterior_like_model(fitted.idata, small_model, n_draws)


def test_custom_function_relative_to_base_dir_and_reproducible(small_model, small_data, custom_file):
    settings = {"method": "custom", "function": "my_methods.py:free_only", "base_dir": custom_file.parent, "draws": 5}
    a = fit(small_model, small_data, seed=3, **settings).idata["posterior"].to_dataset()
    b = fit(small_model, small_data, seed=3, **settings).idata["posterior"].to_dataset()
    xr.testing.assert_equal(a, b)


def test_custom_function_missing_a_free_variable_is_named(small_model, small_data, custom_file):
    with pytest.raises(ValueError, match="returned no draws of free variable.s. a, s"):
        fit(small_model, small_data, seed=3, method="custom", function=f"{custom_file}:incomplete")


def test_exact_method_on_a_conjugate_model():
    model = normal_normal(normal_normal_design(4))
    fitted = fit(model, {"y": np.ones(4)}, seed=1, method="exact",
                 function="sbc_helpers.models:normal_normal_posterior", draws=30)
    posterior = fitted.idata["posterior"].to_dataset()
    assert posterior["mu"].dims == ("chain", "draw") and posterior.sizes["draw"] == 30


@pytest.mark.parametrize("settings, missing, message", [
    ({"method": "nuts", "sampler": "numpyro"}, "jax", "sampler 'numpyro' needs jax, which is not installed: pip install jax"),
    ({"method": "nuts", "sampler": "blackjax"}, "blackjax", "sampler 'blackjax' needs blackjax"),
    ({"method": "pathfinder"}, "pymc_extras", "method 'pathfinder' needs pymc_extras, which is not installed: "
                                              "pip install pymc-extras"),
    ({"method": "laplace"}, "pymc_extras", "method 'laplace' needs pymc_extras"),
])
def test_a_method_whose_package_is_missing_says_what_to_install(settings, missing, message, monkeypatch,
                                                                 small_model, small_data):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == missing else real(name, *a))
    with pytest.raises(MethodUnavailable, match=message):
        inference.check(inference.parse_settings(settings))
    with pytest.raises(MethodUnavailable, match=message):  # fit checks first, before any work
        fit(small_model, small_data, seed=1, draws=5, **settings)


def test_check_catches_what_would_fail_every_replicate(custom_file):
    def check(**settings):
        inference.check(inference.parse_settings(settings))

    check(method="advi")
    check(method="custom", function=f"{custom_file}:free_only")
    with pytest.raises(ParamsError, match="unknown inference method 'vi'"):
        check(method="vi")
    with pytest.raises(ParamsError, match="inference.function: Field required"):
        check(method="exact")
    with pytest.raises(ValueError, match="has no function 'nope'"):
        check(method="custom", function=f"{custom_file}:nope")
    assert set(METHODS) == {"nuts", "advi", "fullrank_advi", "pathfinder", "laplace", "smc", "exact", "custom"}


def test_a_replicate_runs_end_to_end_with_advi(small_model):
    result = run_replicate(small_model, 0, 99, {"method": "advi", "iterations": 300, "draws": 40}, rank_draws=20)
    assert set(result.ranks["variable"]) == {"mu", "s", "a", "a2", "log_lik"}
    assert result.ranks["rank"].between(0, 20).all()


# --- several methods on one model, side by side ---------------------------------------------------

CAMPAIGN = {
    "name": "compare", "seed": 1, "replicates": 2, "rank_draws": 20,
    "design": {"maker": "normal_normal_design", "n_points": 5},
    "inference": {"sampler": "nutpie", "draws": 100, "tune": 100, "chains": 2},
    "models": [
        {"name": "nn", "model": "normal_normal",
         "inference": [{"method": "nuts"}, {"method": "advi", "iterations": 20000, "draws": 1000},
                       {"method": "exact", "function": "sbc_helpers.models:normal_normal_posterior", "draws": 50}]},
        {"name": "single", "model": "normal_normal", "inference": {"method": "fullrank_advi", "draws": 30}},
    ],
}


def test_a_list_of_methods_expands_into_one_output_folder_each():
    campaign = Campaign(**CAMPAIGN)
    units = {u.name: u.inference for u in campaign.units()}
    assert list(units) == ["nn-nuts", "nn-advi", "nn-exact", "single"]
    assert units["nn-nuts"].sampler == "nutpie" and units["nn-nuts"].total_draws == 200
    assert units["nn-advi"].method == "advi" and units["nn-advi"].iterations == 20000
    assert units["nn-advi"].total_draws == 1000
    assert units["nn-exact"].function == "sbc_helpers.models:normal_normal_posterior"
    assert units["single"].method == "fullrank_advi"
    preflight(campaign)  # every model builds on its design and every function loads


def test_the_compare_methods_campaign_is_valid():
    from pathlib import Path

    from sbc_helpers.run.params import load_campaign

    campaign = load_campaign(Path(__file__).resolve().parents[2] / "params" / "compare_methods.yaml")
    assert [u.name for u in campaign.units()] == [
        "eight_schools-nuts", "eight_schools-advi", "eight_schools-fullrank_advi",
        "normal_normal-exact", "normal_normal-nuts", "normal_normal-advi",
    ]
    preflight(campaign)


def test_the_docs_table_of_methods_is_generated_from_the_registry():
    """The guide's methods table is filled in from ``settings_markdown()`` at build time
    (tests/test_docs.py checks the built page)."""
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "guide" / "inference-methods.md").read_text()
    assert "<!-- generated: methods -->" in page and "| method | settings (default) |" not in page
