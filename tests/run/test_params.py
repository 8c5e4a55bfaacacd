from pathlib import Path

import pytest

from sbc_helpers.contract import UNIT_PARAMETERS
from sbc_helpers.errors import ParamsError
from sbc_helpers.inference.nuts import NutsSettings
from sbc_helpers.run.params import Campaign, load_campaign

GOOD = """\
name: demo
seed: 2026
replicates: 4
rank_draws: 50
design: {maker: seed_design, n_groups: 3, n_points: 5}
inference: {sampler: nutpie, draws: 100, tune: 100, chains: 2, target_accept: 0.9}
models:
  - {name: centered, model: hierarchical_centered}
  - name: noncentered
    model: hierarchical_noncentered
    design: {maker: seed_design, n_groups: 4}
    inference: {draws: 200, target_accept: 0.95}
    quantities: [alpha, beta]
"""

MINIMAL = """\
name: demo
seed: 1
replicates: 3
rank_draws: 50
inference: {draws: 100, tune: 100, chains: 2}
models:
  - {name: a, model: hierarchical_centered}
"""


def write(tmp_path: Path, text: str, name: str = "campaign.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_load_campaign_reads_a_good_file(tmp_path):
    campaign = load_campaign(write(tmp_path, GOOD))
    assert isinstance(campaign, Campaign)
    assert (campaign.name, campaign.seed, campaign.replicates, campaign.rank_draws) == (
        "demo", 2026, 4, 50,
    )
    assert [m.name for m in campaign.models] == ["centered", "noncentered"]
    assert campaign.models[1].quantities == ["alpha", "beta"]
    assert campaign.units()[0].inference.draws == 100
    assert campaign.units()[0].inference.target_accept == 0.9
    # relative references in the file are resolved from the file's folder
    assert Path(campaign.base_dir) == tmp_path.resolve()


def test_model_settings_override_the_campaigns(tmp_path):
    campaign = load_campaign(write(tmp_path, GOOD))
    centered, noncentered = campaign.models
    units = {u.name: u for u in campaign.units()}
    assert list(units) == ["centered", "noncentered"]  # one method each: folders are model names
    assert units["centered"].inference == NutsSettings(draws=100, tune=100, chains=2, target_accept=0.9)
    assert units["noncentered"].spec is noncentered
    merged = units["noncentered"].inference
    assert (merged.method, merged.draws, merged.target_accept) == ("nuts", 200, 0.95)
    assert (merged.tune, merged.chains, merged.sampler) == (100, 2, "nutpie")  # inherited
    assert campaign.design_for(centered) == {"maker": "seed_design", "n_groups": 3, "n_points": 5}
    assert campaign.design_for(noncentered) == {"maker": "seed_design", "n_groups": 4}


def test_defaults_fill_unset_settings(tmp_path):
    text = "name: d\nseed: 0\nreplicates: 1\nmodels: [{name: a, model: hierarchical_centered}]\n"
    campaign = load_campaign(write(tmp_path, text))
    assert campaign.rank_draws == 100
    inference = campaign.units()[0].inference
    assert inference.draws * inference.chains >= campaign.rank_draws
    assert campaign.design == {"maker": "seed_design"}
    assert inference.sampler == "nutpie"


def test_replicates_argument_overrides_the_file(tmp_path):
    path = write(tmp_path, GOOD)
    assert load_campaign(path, replicates=250).replicates == 250
    assert load_campaign(path).replicates == 4


def test_replicates_override_is_validated(tmp_path):
    with pytest.raises(ParamsError, match="replicates"):
        load_campaign(write(tmp_path, GOOD), replicates=0)


def test_replicates_override_supplies_a_missing_count(tmp_path):
    text = MINIMAL.replace("replicates: 3\n", "")
    path = write(tmp_path, text)
    with pytest.raises(ParamsError, match="replicates"):
        load_campaign(path)
    assert load_campaign(path, replicates=2).replicates == 2


def _error(path, **kwargs) -> str:
    with pytest.raises(ParamsError) as err:
        load_campaign(path, **kwargs)
    message = str(err.value)
    assert "\n" not in message, f"multi-line message: {message!r}"
    assert str(path) in message  # every message names the file
    return message


def test_missing_file_error(tmp_path):
    message = _error(tmp_path / "nope.yaml")
    assert "not found" in message


@pytest.mark.parametrize(
    "text, where",
    [("name: t\nmodels: [a, b\n", "line 3"), ("name: t\n\tseed: 1\n", "line 2")],
)
def test_invalid_yaml_error_names_the_line(tmp_path, text, where):
    message = _error(write(tmp_path, text))
    assert "not valid YAML" in message
    assert where in message


@pytest.mark.parametrize("text", ["- a\n- b\n", "", "just a string\n"])
def test_top_level_must_be_a_mapping(tmp_path, text):
    assert "mapping" in _error(write(tmp_path, text))


BAD = {
    "unknown top-level key": (MINIMAL + "replicats: 5\n", ["replicats", "unknown key"]),
    "unknown key in a model": (
        MINIMAL.replace("model: hierarchical_centered}", "model: hierarchical_centered, sampler: x}"),
        ["models.0.sampler", "unknown key"],
    ),
    "draws: 0": (MINIMAL.replace("draws: 100", "draws: 0"), ["inference.draws", "greater than or equal to 1"]),
    "target_accept: 1.5": (
        MINIMAL.replace("chains: 2}", "chains: 2, target_accept: 1.5}"),
        ["inference.target_accept", "less than 1"],
    ),
    "duplicate model names": (
        MINIMAL + "  - {name: a, model: hierarchical_noncentered}\n",
        ["models", "unique", "repeated: a"],
    ),
    "rank_draws > draws * chains": (
        MINIMAL.replace("rank_draws: 50", "rank_draws: 201"),
        ["rank_draws/keep_draws (201)", "200 posterior draws", "'a'"],
    ),
    "model's own draws too few for rank_draws": (
        MINIMAL.replace("model: hierarchical_centered}", "model: hierarchical_centered, inference: {draws: 20}}"),
        ["rank_draws/keep_draws (50)", "40 posterior draws", "'a'"],
    ),
    "bad draws in a model's inference": (
        MINIMAL.replace("model: hierarchical_centered}", "model: hierarchical_centered, inference: {draws: 0}}"),
        ["models.0.inference", "draws"],
    ),
    "keep_draws below rank_draws": (
        MINIMAL + "keep_draws: 20\n", ["keep_draws (20)", "at least rank_draws (50)"],
    ),
    "keep_draws above the posterior draws": (
        MINIMAL + "keep_draws: 300\n", ["rank_draws/keep_draws (300)", "200 posterior draws", "'a'"],
    ),
    "exact method without its function": (
        MINIMAL.replace("inference: {draws: 100,", "inference: {method: exact, draws: 100,"),
        ["inference.function", "required"],
    ),
    "unknown method": (
        MINIMAL.replace("inference: {draws: 100,", "inference: {method: hmc, draws: 100,"),
        ["inference.method", "unknown inference method 'hmc'"],
    ),
    "empty list of methods": (
        MINIMAL.replace("model: hierarchical_centered}", "model: hierarchical_centered, inference: []}"),
        ["models.0.inference", "at least one method"],
    ),
    "two methods of a model with one label": (
        MINIMAL.replace("model: hierarchical_centered}",
                        "model: hierarchical_centered, inference: [{method: nuts}, {method: nuts}]}"),
        ["share a folder name", "distinct 'label'"],
    ),
    "bad threshold": (MINIMAL + "thresholds: {max_rhat: 0.9}\n", ["thresholds.max_rhat", "greater than 1"]),
    "unknown threshold": (MINIMAL + "thresholds: {rhat: 1.05}\n", ["thresholds.rhat", "unknown key"]),
    "empty models": (MINIMAL.split("models:")[0] + "models: []\n", ["models", "at least 1"]),
    "missing seed": (MINIMAL.replace("seed: 1\n", ""), ["seed", "required"]),
    "bad model name": (MINIMAL.replace("name: a,", "name: 'my model',"), ["models.0.name", "not a valid name"]),
    "markup as a derived name": (MINIMAL + 'derived: {"<img src=x onerror=alert(1)>": "mu_alpha"}\n',
                                 ["derived", "not a valid name"]),
    "a key of another method": (MINIMAL.replace("model: hierarchical_centered}",
                                                "model: hierarchical_centered, inference: {method: advi, tune: 5}}"),
                                ["models.0.inference", "tune", "unknown key"]),
    "a model and a formula": (MINIMAL.replace("model: hierarchical_centered}",
                                              "model: hierarchical_centered, bambi: {formula: 'y ~ x'}}"),
                              ["models.0", "either 'model'", "or 'bambi'"]),
    "neither model nor formula": (MINIMAL.replace(", model: hierarchical_centered}", "}"), ["models.0", "either"]),
    "a formula without its formula": (MINIMAL.replace("model: hierarchical_centered}", "bambi: {family: poisson}}"),
                                      ["models.0.bambi.formula", "required"]),
    "negative stop_after_failures": (MINIMAL + "stop_after_failures: -1\n", ["stop_after_failures"]),
    "a reference smaller than the replicates": (MINIMAL + "reference_ess_ratio: 0.5\n",
                                                ["reference_ess_ratio", "greater than or equal to 1"]),
    "a reference ratio that is not a number": (MINIMAL + "reference_ess_ratio: many\n",
                                               ["reference_ess_ratio", "valid number"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_invalid_settings_give_one_line_error_naming_the_key(tmp_path, case):
    text, needles = BAD[case]
    message = _error(write(tmp_path, text))
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"


def test_the_good_minimal_file_is_valid(tmp_path):
    # the BAD cases are one edit away from this file, so it must itself load
    assert load_campaign(write(tmp_path, MINIMAL)).models[0].name == "a"


# --- inference methods, units, new campaign settings ---------------------------------------------

METHODS = """\
name: methods
seed: 1
replicates: 2
rank_draws: 50
inference: {draws: 100, tune: 100, chains: 2, target_accept: 0.9}
models:
  - {name: a, model: hierarchical_centered}
  - name: b
    model: hierarchical_noncentered
    inference:
      - {method: nuts, target_accept: 0.95}
      - {method: advi, draws: 200, iterations: 5000}
      - {method: nuts, label: pymc-nuts, sampler: pymc}
      - {method: exact, function: conjugate.py:posterior, draws: 60}
"""


def test_units_expand_each_model_by_inference_method(tmp_path):
    campaign = load_campaign(write(tmp_path, METHODS))
    units = {u.name: u for u in campaign.units()}
    # one method: the model's name; several: model-method, or model-label when labelled
    assert list(units) == ["a", "b-nuts", "b-advi", "b-pymc-nuts", "b-exact"]
    assert units["a"].spec.name == "a" and units["a"].inference == NutsSettings(draws=100, tune=100, chains=2,
                                                                                target_accept=0.9)
    assert all(units[n].spec is campaign.models[1] for n in list(units)[1:])
    nuts = units["b-nuts"].inference
    assert (nuts.method, nuts.target_accept, nuts.draws, nuts.tune, nuts.chains) == ("nuts", 0.95, 100, 100, 2)
    advi = units["b-advi"].inference
    assert (advi.method, advi.draws, advi.iterations) == ("advi", 200, 5000)
    assert advi.total_draws == 200  # chains count for NUTS only
    pymc_nuts = units["b-pymc-nuts"].inference
    assert (pymc_nuts.sampler, pymc_nuts.label, pymc_nuts.target_accept) == ("pymc", "pymc-nuts", 0.9)
    exact = units["b-exact"].inference
    assert (exact.method, exact.function, exact.total_draws) == ("exact", "conjugate.py:posterior", 60)


def test_a_model_with_one_method_in_a_list_keeps_its_name(tmp_path):
    text = MINIMAL.replace("model: hierarchical_centered}",
                           "model: hierarchical_centered, inference: [{method: advi, draws: 100}]}")
    [unit] = load_campaign(write(tmp_path, text)).units()
    assert (unit.name, unit.inference.method) == ("a", "advi")


def test_two_methods_with_the_same_label_are_an_error(tmp_path):
    text = MINIMAL.replace(
        "model: hierarchical_centered}",
        "model: hierarchical_centered, inference: [{method: nuts, label: x}, {method: advi, label: x}]}",
    )
    message = _error(write(tmp_path, text))
    assert "share a folder name" in message
    # distinct labels for the same method are fine
    ok = MINIMAL.replace(
        "model: hierarchical_centered}",
        "model: hierarchical_centered, inference: [{method: nuts, label: x}, {method: nuts, label: y}]}",
    )
    assert [u.name for u in load_campaign(write(tmp_path, ok, "ok.yaml")).units()] == ["a-x", "a-y"]


def test_a_model_switching_method_does_not_inherit_the_campaigns_function(tmp_path):
    text = MINIMAL.replace("inference: {draws: 100, tune: 100, chains: 2}",
                           "inference: {method: custom, function: f.py:g, draws: 200}")
    text = text.replace("model: hierarchical_centered}",
                        "model: hierarchical_centered, inference: [{}, {method: nuts}]}")
    units = {u.name: u.inference for u in load_campaign(write(tmp_path, text)).units()}
    assert units["a-custom"].function == "f.py:g"
    assert units["a-nuts"].method == "nuts" and not hasattr(units["a-nuts"], "function")


def test_campaign_settings_for_recomputing_and_flagging(tmp_path):
    text = MINIMAL + """\
keep_draws: 150
log_likelihood: false
derived: {contrast: "alpha[:, 0] - alpha[:, 1]", both: "mu_alpha + mu_beta"}
thresholds: {divergences: 2, max_rhat: 1.05, min_ess: 50}
kernel_reuse: 0
"""
    text = text.replace("model: hierarchical_centered}",
                        "model: hierarchical_centered, derived: {both: \"mu_alpha - mu_beta\"}}")
    campaign = load_campaign(write(tmp_path, text))
    assert (campaign.keep_draws, campaign.kept_draws, campaign.log_likelihood, campaign.kernel_reuse) == (
        150, 150, False, 0)
    assert campaign.thresholds.model_dump() == {
        "divergences": 2, "treedepth_hits": 0, "max_rhat": 1.05, "min_ess": 50, "min_bfmi": 0.2}
    # a model's own derived quantities add to the campaign's and override same-named ones
    assert campaign.derived_for(campaign.models[0]) == {
        "contrast": "alpha[:, 0] - alpha[:, 1]", "both": "mu_alpha - mu_beta"}


def test_new_settings_default_sensibly(tmp_path):
    campaign = load_campaign(write(tmp_path, MINIMAL))
    assert campaign.keep_draws == 0 and campaign.kept_draws == campaign.rank_draws
    assert campaign.log_likelihood is True
    assert campaign.derived == {} and campaign.kernel_reuse == 1000
    assert campaign.units()[0].inference == NutsSettings(draws=100, tune=100, chains=2)
    assert campaign.stop_after_failures == 3 and campaign.make_plots is True
    assert campaign.reference_ess_ratio == 20
    assert load_campaign(write(tmp_path, MINIMAL + "reference_ess_ratio: 5\n")).reference_ess_ratio == 5


def test_a_bambi_model_and_sampler_labels(tmp_path):
    text = MINIMAL.replace("models:\n  - {name: a, model: hierarchical_centered}\n", """models:
  - name: corr
    bambi: {formula: "y ~ x1 + (1|site)", family: poisson, priors: {x1: {dist: Normal, mu: 0, sigma: 1}}}
    inference: [{method: nuts}, {method: nuts, sampler: numpyro}, {method: nuts, sampler: pymc, label: mine}]
""")
    campaign = load_campaign(write(tmp_path, text))
    spec = campaign.models[0]
    assert spec.bambi.formula == "y ~ x1 + (1|site)" and spec.bambi.family == "poisson"
    assert spec.bambi.priors == {"x1": {"dist": "Normal", "mu": 0, "sigma": 1}}
    # each sampler gets a folder of its own; a label overrides it
    assert [u.name for u in campaign.units()] == ["corr-nuts", "corr-nuts-numpyro", "corr-mine"]


def test_make_plots_flagged_reaches_the_template_with_the_thresholds(tmp_path):
    from sbc_helpers.run.tasks import unit_parameters

    campaign = load_campaign(write(tmp_path, MINIMAL + "make_plots: flagged\nthresholds: {min_ess: 400}\n"))
    parameters = unit_parameters(campaign, campaign.units()[0], 1, {})
    assert parameters["make_plots"] == "flagged" and parameters["thresholds"]["min_ess"] == 400
    assert list(parameters) == UNIT_PARAMETERS  # every template parameter but the replicate's own, in order
    with pytest.raises(ParamsError):
        load_campaign(write(tmp_path, MINIMAL + "make_plots: sometimes\n"))


@pytest.mark.parametrize("name", ["compare", "calibrate", "references"])
def test_a_model_cannot_take_the_name_of_a_campaign_folder(tmp_path, name):
    # `sbc compare` writes <campaign>/compare, sbc.calibrate <campaign>/calibrate, posterior SBC references
    path = write(tmp_path, MINIMAL.replace("{name: a,", f"{{name: {name},"))
    with pytest.raises(ParamsError, match=f"models.0.name: .*'{name}' is the name of a campaign folder of its own"):
        load_campaign(path)
