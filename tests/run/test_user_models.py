"""A user's own model, design, simulator and method, from a params file alone.

Covers references (file.py:function relative to the params file, package.module:function),
designs from CSV/Parquet, independent simulators (which return free variables only; the model's
Deterministics are computed), SBC flagging a simulator that disagrees with the model, and the
one-line errors `sbc run` gives, with exit code 2 before any replicate starts, for malformed input.
"""

import subprocess
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from processes import SBC, sbc
from sbc_helpers.stats.calibrate import calibration_table
from sbc_helpers.models.designs import normal_normal_design, seed_design
from sbc_helpers.inference import fit
from sbc_helpers.models.library import hierarchical_noncentered, normal_normal
from sbc_helpers.run.params import load_campaign
from sbc_helpers.models.references import load_function, make_design, resolve_model
from sbc_helpers.run.steps import default_quantities, rank
from sbc_helpers.run.seeds import stream_seeds
from sbc_helpers.simulation.prior import simulate

ROOT = Path(__file__).resolve().parents[2]
RADON = ROOT / "examples" / "radon_like"

USER_MODEL = textwrap.dedent("""
    import numpy as np
    import pymc as pm


    def build(design, prior_sd=1.0):
        with pm.Model(coords={"obs": np.arange(len(design))}) as model:
            mu = pm.Normal("mu", 0, prior_sd)
            pm.Normal("y", mu + design["x"].to_numpy(), 1.0, observed=np.zeros(len(design)), dims="obs")
        return model


    def not_a_model(design):
        return 42


    def nothing_observed(design):
        with pm.Model() as model:
            pm.Normal("mu", 0, 1)
        return model


    def no_free_variable(design):
        with pm.Model() as model:
            pm.Normal("y", 0, 1, observed=np.zeros(len(design)))
        return model


    def missing_values(design):
        with pm.Model() as model:
            mu = pm.Normal("mu", 0, 1)
            pm.Normal("y", mu, 1, observed=np.r_[np.nan, np.zeros(len(design) - 1)])
        return model


    def flat_prior(design):
        with pm.Model() as model:
            mu = pm.Flat("mu")
            pm.Normal("y", mu, 1, observed=np.zeros(len(design)))
        return model


    def switchpoint(design):
        with pm.Model() as model:
            change = pm.DiscreteUniform("change", 0, len(design))
            pm.Normal("y", pm.math.switch(change > np.arange(len(design)), 0.0, 1.0), 1.0,
                      observed=np.zeros(len(design)))
        return model
""")


@pytest.fixture
def user_folder(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "user_model.py").write_text(USER_MODEL)
    pd.DataFrame({"x": [0.1, -0.3, 0.5, 1.0]}).to_csv(tmp_path / "design.csv", index=False)
    return tmp_path


# --- references and designs -------------------------------------------------------------------------


def test_file_reference_is_read_relative_to_the_params_file(user_folder):
    params = user_folder / "campaign.yaml"
    params.write_text("name: c\nseed: 1\nreplicates: 1\nrank_draws: 10\ndesign: design.csv\n"
                      "models:\n  - {name: m, model: models/user_model.py:build, model_kwargs: {prior_sd: 3.0}}\n")
    campaign = load_campaign(params)
    spec = campaign.models[0]
    design = make_design(campaign.design_for(spec), campaign.base_dir)
    model = resolve_model(spec.model, campaign.base_dir)(design, **spec.model_kwargs)
    assert [rv.name for rv in model.observed_RVs] == ["y"]
    assert float(model["mu"].owner.inputs[-1].eval()) == 3.0  # model_kwargs reached the builder


def test_module_reference_imports_from_the_environment(tmp_path, monkeypatch):
    package = tmp_path / "my_sbc_models"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "regression.py").write_text(USER_MODEL)
    monkeypatch.syspath_prepend(str(tmp_path))
    builder = resolve_model("my_sbc_models.regression:build")
    assert builder.__name__ == "build"
    assert [rv.name for rv in builder(pd.DataFrame({"x": [1.0]})).free_RVs] == ["mu"]


def test_an_edited_model_file_is_imported_again(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("def f():\n    return 1\n")
    assert load_function(f"{path}:f")() == 1
    time.sleep(0.01)
    path.write_text("def f():\n    return 22\n")  # a different size: a different file
    assert load_function(f"{path}:f")() == 22


def test_a_file_with_an_error_gives_one_line_naming_it(tmp_path):
    (tmp_path / "broken.py").write_text("def f(:\n")
    with pytest.raises(ValueError, match=r"importing .*broken.py' failed: SyntaxError") as err:
        load_function("broken.py:f", tmp_path)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_design_from_a_file_relative_to_the_params_folder(tmp_path, suffix):
    original = seed_design(n_groups=2, n_points=3, seed=4)
    (original.to_csv if suffix == ".csv" else original.to_parquet)(tmp_path / f"d{suffix}", index=False)
    for spec in (f"d{suffix}", {"file": f"d{suffix}"}):
        design = make_design(spec, base_dir=tmp_path)
        np.testing.assert_allclose(design["x"], original["x"])
        assert [str(g) for g in design["group"]] == [str(g) for g in original["group"]]


# --- independent simulators ----------------------------------------------------------------------------


def noncentered_simulator(rng, design):
    """The seed model's generative story in NumPy, returning free variables only."""
    idx = design["group"].cat.codes.to_numpy()
    n_groups = len(design["group"].cat.categories)
    truth = {"mu_alpha": rng.normal(0, 2), "sigma_alpha": abs(rng.normal(0, 2)), "mu_beta": rng.normal(0, 1),
             "sigma_beta": abs(rng.normal(0, 1)), "z_alpha": rng.normal(size=n_groups),
             "z_beta": rng.normal(size=n_groups), "sigma": abs(rng.normal(0, 2))}
    alpha = truth["mu_alpha"] + truth["sigma_alpha"] * truth["z_alpha"]
    beta = truth["mu_beta"] + truth["sigma_beta"] * truth["z_beta"]
    y = rng.normal(alpha[idx] + beta[idx] * design["x"].to_numpy(), truth["sigma"])
    return truth, {"y": y}


@pytest.fixture(scope="module")
def small_design():
    return seed_design(n_groups=3, n_points=4, seed=1)


def test_simulator_needs_only_free_variables_deterministics_are_computed(small_design):
    model = hierarchical_noncentered(small_design)
    simulation = simulate(model, 5, noncentered_simulator, small_design)
    t = simulation.truth
    np.testing.assert_allclose(t["alpha"], t["mu_alpha"] + t["sigma_alpha"] * t["z_alpha"])
    idx = small_design["group"].cat.codes.to_numpy()
    np.testing.assert_allclose(t["mu"], t["alpha"].to_numpy()[idx] + t["beta"].to_numpy()[idx] * small_design["x"])
    assert t["alpha"].dims == ("group",) and list(t["alpha"].coords["group"].to_numpy()) == ["A", "B", "C"]
    # the same simulator with the same seed is the same draw
    np.testing.assert_array_equal(simulate(model, 5, noncentered_simulator, small_design).data["y"],
                                  simulation.data["y"])
    # ranking, archiving and the log-likelihood all work from a simulator's truth
    quantities = default_quantities(model, simulation)
    assert {"alpha", "beta", "z_alpha"} <= set(quantities) and "mu" not in quantities
    fitted = fit(model, simulation.data, seed=1, sampler="pymc", draws=30, tune=30, chains=1)
    result = rank(0, 5, model, simulation, fitted, quantities, rank_draws=10)
    assert {"alpha", "log_lik"} <= set(result.ranks["variable"])
    assert result.ranks["rank"].between(0, 10).all()


@pytest.mark.parametrize("truth, data, message", [
    ({"mu_alpha": 0.0}, {"y": np.zeros(12)}, "no true value for free variable.s. sigma_alpha, mu_beta"),
    (None, {}, "no data for observed variable.s. y"),
    (None, {"y": np.zeros(11)}, r"data for 'y' has shape \(11,\); the model's is \(12,\)"),
    ("wrong z_alpha", {"y": np.zeros(12)}, r"true value for 'z_alpha' has shape \(2,\); the model's is \(3,\)"),
    (None, {"y": np.full(12, np.nan)}, "data for 'y' is non-finite"),
])
def test_simulator_output_is_checked_with_one_line_errors(truth, data, message, small_design):
    model = hierarchical_noncentered(small_design)
    good, _ = noncentered_simulator(np.random.default_rng(0), small_design)
    if truth is None:
        truth = good
    elif truth == "wrong z_alpha":
        truth = {**good, "z_alpha": np.zeros(2)}
    with pytest.raises(ValueError, match=message) as err:
        simulate(model, 1, lambda rng, design: (truth, data), small_design)
    assert "\n" not in str(err.value)


def test_simulator_must_return_a_pair(small_design):
    with pytest.raises(ValueError, match="must return .truth, data."):
        simulate(hierarchical_noncentered(small_design), 1, lambda rng, design: 42, small_design)


def _sbc_ranks(model, design, simulator, n_replicates):
    """SBC of ``model`` against ``simulator`` with exact posterior draws (L = 49)."""
    inference = {"method": "exact", "function": "sbc_helpers.models:normal_normal_posterior", "draws": 49}
    frames = []
    for r in range(n_replicates):
        seeds = stream_seeds(1000 + r)
        simulation = simulate(model, seeds["simulate"], simulator, design)
        fitted = fit(model, simulation.data, seed=seeds["fit"], **inference)
        frames.append(rank(r, 1000 + r, model, simulation, fitted, ["mu"], 49, log_likelihood=False).ranks)
    return pd.concat(frames)


def normal_simulator(prior_sd):
    """mu ~ N(0, prior_sd), y_i ~ N(mu, sigma_i): the normal_normal model's story when prior_sd = 1."""
    def simulator(rng, design):
        mu = rng.normal(0.0, prior_sd)
        return {"mu": mu}, {"y": rng.normal(mu, design["sigma"].to_numpy())}
    return simulator


def test_a_simulator_that_disagrees_with_the_model_is_flagged():
    # The model's prior is mu ~ N(0, 1); the wrong simulator draws mu ~ N(0, 3), as if the model
    # had been coded with the wrong prior scale. With 3 observations of sd 1 the exact posterior
    # shrinks mu by 25% towards 0, so the true value sits in the posterior's tails far more often
    # than it should (a U-shaped rank histogram: about 30 of 150 ranks in each outer tenth against
    # 15 expected). 150 replicates detect this far beyond chance (chi-square p ~ 1e-8; the gamma
    # test's p-value is simulated and bottoms out at 1/4001); the agreeing simulator must pass
    # (fails for at most 5% of seed choices; the seeds are fixed).
    design = normal_normal_design(n_points=3)
    model = normal_normal(design)
    agreeing = calibration_table(_sbc_ranks(model, design, normal_simulator(1.0), 150)).set_index("quantity")
    wrong = calibration_table(_sbc_ranks(model, design, normal_simulator(3.0), 150)).set_index("quantity")
    assert bool(agreeing.loc["mu", "calibrated"])
    assert not bool(wrong.loc["mu", "calibrated"])
    assert wrong.loc["mu", "p_adjusted"] < 0.001 and wrong.loc["mu", "chi2_p_value"] < 1e-5


# --- `sbc run` on malformed params: one line, exit 2, before any replicate ----------------------------

BASE = """\
name: bad
seed: 1
replicates: 2
rank_draws: 10
design: design.csv
make_plots: false
inference: {sampler: pymc, draws: 20, tune: 20, chains: 1}
models:
"""

MALFORMED = {
    # case: (models entry, words the message must contain)
    "unknown model": ("{name: m, model: no_such_model}", ["models.0 (m).model", "unknown model 'no_such_model'"]),
    "missing file": ("{name: m, model: missing.py:build}", ["models.0 (m).model", "missing.py", "does not exist"]),
    "missing function": ("{name: m, model: models/user_model.py:nope}",
                         ["models.0 (m).model", "has no function 'nope'"]),
    "not a model": ("{name: m, model: models/user_model.py:not_a_model}",
                    ["models.0 (m).model", "returned int, not a pm.Model"]),
    "nothing observed": ("{name: m, model: models/user_model.py:nothing_observed}",
                         ["models.0 (m).model", "has no observed variable"]),
    "design does not fit": ("{name: m, model: models/user_model.py:build, design: other.csv}",
                            ["models.0 (m).model", "failed to build on its design", "KeyError: 'x'"]),
    "simulator file missing": ("{name: m, model: models/user_model.py:build, simulator: no_sim.py:simulate}",
                               ["models.0 (m).simulator", "no_sim.py", "does not exist"]),
    "custom function missing": ("{name: m, model: models/user_model.py:build, "
                                "inference: {method: custom, function: models/user_model.py:my_fit}}",
                                ["models.0 (m).inference.function", "has no function 'my_fit'"]),
    "no free variable": ("{name: m, model: models/user_model.py:no_free_variable}",
                         ["models.0 (m).model", "has no free variable: there is nothing to calibrate"]),
    "missing values": ("{name: m, model: models/user_model.py:missing_values}",
                       ["models.0 (m).model", "observed variable 'y' has missing values, which PyMC imputes"]),
    "improper prior": ("{name: m, model: models/user_model.py:flat_prior}",
                       ["models.0 (m).model: the prior draw failed:", "Cannot sample from flat variable"]),
    "discrete variable, nutpie": ("{name: m, model: models/user_model.py:switchpoint, "
                                  "inference: {method: nuts, sampler: nutpie}}",
                                  ["models.0 (m).inference", "sampler 'nutpie' samples continuous variables only",
                                   "'change' is discrete", "sampler: pymc"]),
    "discrete variable, advi": ("{name: m, model: models/user_model.py:switchpoint, inference: {method: advi}}",
                                ["models.0 (m).inference", "method 'advi' samples continuous variables only"]),
}


@pytest.fixture(scope="module")
def malformed_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("malformed")
    (folder / "models").mkdir()
    (folder / "models" / "user_model.py").write_text(USER_MODEL)
    pd.DataFrame({"x": [0.1, 0.2, 0.3]}).to_csv(folder / "design.csv", index=False)
    pd.DataFrame({"z": [0.1, 0.2]}).to_csv(folder / "other.csv", index=False)
    return folder


def _write_case(folder: Path, case: str) -> tuple[Path, Path]:
    i = list(MALFORMED).index(case)
    params = folder / f"case{i}.yaml"
    params.write_text(BASE + f"  - {MALFORMED[case][0]}\n")
    return params, folder / f"out{i}"


def _check_one_line(code: int, stderr: str, case: str, out: Path) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == 2, stderr
    assert len(lines) == 1 and lines[0].startswith("sbc: error: "), stderr
    for words in MALFORMED[case][1]:
        assert words in lines[0], lines[0]
    assert not out.exists()  # nothing started: no output folder, no replicate


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_params_give_one_line_and_exit_2_before_any_replicate(case, malformed_folder, capsys):
    # `sbc run PARAMS --output-dir OUT` in this process (the command's own entry point, without
    # paying PyMC's import once per case); the test below runs the real command for two cases
    from sbc_helpers.cli import main

    params, out = _write_case(malformed_folder, case)
    code = main(["run", str(params), "--output-dir", str(out)])
    _check_one_line(code, capsys.readouterr().err, case, out)


@pytest.mark.slow
def test_malformed_params_through_the_real_command(malformed_folder):
    cases = ["design does not fit", "custom function missing"]
    runs = {}
    for case in cases:  # started together: each spends most of its few seconds importing PyMC
        params, out = _write_case(malformed_folder, case)
        runs[case] = (subprocess.Popen([*SBC, "run", str(params), "--output-dir", str(out)], cwd=malformed_folder,
                                       text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE), out)
    for case, (process, out) in runs.items():
        _, stderr = process.communicate(timeout=600)
        _check_one_line(process.returncode, stderr, case, out)


# --- `sbc run` on a user's model from a params file alone -------------------------------------------


@pytest.mark.slow
def test_user_model_with_csv_design_simulator_and_two_methods_runs(tmp_path):
    # The radon-like example's own files, addressed from another folder; both methods and the
    # independent simulator; tiny settings so the whole campaign runs in well under a minute.
    params = tmp_path / "campaign.yaml"
    params.write_text(textwrap.dedent(f"""\
        name: user
        seed: 3
        replicates: 2
        rank_draws: 10
        design: {RADON / 'design.csv'}
        inference: {{sampler: pymc, draws: 20, tune: 30, chains: 1}}
        models:
          - name: radon
            model: {RADON / 'model.py'}:build_model
            simulator: {RADON / 'simulate.py'}:simulate
            inference: [{{method: nuts}}, {{method: advi, iterations: 300, draws: 20}}]
    """))
    done = sbc("run", params, "--output-dir", tmp_path / "out", "--workers", "1", "--no-report", "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for unit in ("radon-nuts-pymc", "radon-advi"):  # a sampler other than nutpie names its folder
        folder = tmp_path / "out" / "user" / unit
        table = pd.read_parquet(folder / "replicates.parquet")
        assert list(table["replicate"]) == [0, 1] and (table["status"] == "ok").all()
        ranks = pd.read_parquet(folder / "ranks.parquet")
        # a, the county intercepts, is a Deterministic the simulator did not return
        assert {"mu_a", "sigma_a", "z_a", "a", "b", "sigma", "log_lik"} == set(ranks["variable"])
