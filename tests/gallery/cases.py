"""The gallery: model shapes written as a modeller would (their own names, likelihoods, coords and
dims, ``pm.Data``), each through the real ``sbc run`` with the default settings (figures on): the
workflow takes every name from the model and its design, and draws every figure.

Each group of shapes is one campaign (two replicates per unit, tiny fits) in a test file of its own,
so pytest-xdist runs the groups side by side; a group stays near a minute alone (two to three units),
so no campaign holds a test worker much over two minutes while the other worker is busy.
"""

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from processes import sbc

GALLERY = Path(__file__).resolve().parent

CASES = {
    # unit: (model entry, variables that must be ranked)
    "columns": ("model: {g}/models.py:clinics, design: {{maker: {g}/designs.py:clinics}}",
                {"base", "slope", "noise", "log_lik"}),
    "outcomes": ("model: {g}/models.py:two_outcomes, design: {{maker: {g}/designs.py:households}}",
                 {"log_rate", "level", "spread", "log_lik"}),
    "discrete": ("model: {g}/models.py:discrete, design: {{maker: {g}/designs.py:trials}}",
                 {"p", "eta", "low_cut", "gap", "cuts", "log_lik"}),
    "containers": ("model: {g}/models.py:data_containers, design: {{maker: {g}/designs.py:days}}",
                   {"effect", "baseline", "sd", "log_lik"}),
    "scalars": ("model: {g}/models.py:scalars, design: {{maker: {g}/designs.py:sites}}",
                {"mu", "beta", "log_lik"}),
    "repeated": ("model: {g}/models.py:repeated, design: {{maker: {g}/designs.py:sites}}",
                 {"level", "error", "log_lik"}),
    "formula": ('bambi: {{formula: "yield_t ~ rain_mm + (1|farm)"}}, design: {{maker: {g}/designs.py:farms}}',
                {"Intercept", "rain_mm", "1|farm", "1|farm_sigma", "sigma", "log_lik"}),
    "switchpoint": ("model: {g}/models.py:switchpoint, design: {{maker: {g}/designs.py:years}}, "
                    "inference: {{method: nuts, sampler: pymc, draws: 60, tune: 60, chains: 2}}",
                    {"change_year", "early_rate", "late_rate", "log_lik"}),
    "correlated": ("model: {g}/models.py:correlated, design: {{maker: {g}/designs.py:animals}}",
                   {"chol", "mu", "chol_corr", "chol_stds", "log_lik"}),
    "censored": ("model: {g}/models.py:censored, design: {{maker: {g}/designs.py:assays}}",
                 {"centre", "scale", "log_lik"}),
    "bernoulli": ('bambi: {{formula: "passed ~ `hours studied` + school", family: bernoulli}}, '
                  "design: {{maker: {g}/designs.py:students}}",
                  {"Intercept", "hours studied", "school", "log_lik"}),
    "schools": ("model: {g}/models.py:schools, design: {{maker: {g}/designs.py:schools}}",
                {"mu", "tau", "z", "theta", "sigma", "log_lik"}),
    # posterior SBC of the same model, conditional on observed scores (its reference fitted by NUTS)
    "schools_posterior": ("model: {g}/models.py:schools, design: {{maker: {g}/designs.py:schools}}, "
                          "conditional_on: {g}/schools_scores.csv",
                          {"mu", "tau", "z", "theta", "sigma", "log_lik"}),
    "ar_scalar": ("model: {g}/models.py:ar_scalar, design: {{maker: {g}/designs.py:days_of_series}}",
                  {"phi", "scale", "log_lik"}),
    "ar_vector": ("model: {g}/models.py:ar_vector, design: {{maker: {g}/designs.py:days_of_series}}",
                  {"rho", "scale", "log_lik"}),
    "random_walk": ("model: {g}/models.py:random_walk, design: {{maker: {g}/designs.py:weeks}}",
                    {"drift", "trend", "noise", "log_lik"}),
    "spatial_gp": ("model: {g}/models.py:spatial_gp, design: {{maker: {g}/designs.py:stations}}",
                   {"length", "amplitude", "field_hsgp_coeffs", "noise", "log_lik"}),
    "mixture": ("model: {g}/models.py:mixture, design: {{maker: {g}/designs.py:runners}}",
                {"weight", "centre", "spread", "log_lik"}),
    "custom_scan": ("model: {g}/models.py:custom_scan, design: {{maker: {g}/designs.py:days_of_series}}",
                    {"mean", "pull", "sigma", "log_lik"}),
}
GROUPS = {
    "regression": ["columns", "outcomes", "discrete", "containers", "scalars", "repeated"],
    "formulas": ["formula", "bernoulli"],
    "structure": ["switchpoint", "correlated", "censored"],
    "series": ["ar_scalar", "ar_vector", "random_walk"],
    "latent": ["spatial_gp", "mixture", "custom_scan"],
    "groups": ["schools", "schools_posterior"],
}
# figures a replicate notebook shows (design, mock data, trace), where not all three
FIGURES = {"correlated": 2}  # its design is labels only: a note says there is no design figure


def params(group: str) -> str:
    models = "".join(f"  - {{name: {name}, {CASES[name][0].format(g=GALLERY)}}}\n" for name in GROUPS[group])
    return (f"name: {group}\nseed: 7\nreplicates: 2\nrank_draws: 20\ntimeout: 600\n"
            "inference: {method: nuts, draws: 60, tune: 60, chains: 2}\nmodels:\n" + models)


def run(folder: Path, group: str) -> tuple[subprocess.CompletedProcess, Path]:
    """The group's campaign; returns the run and the campaign folder. One worker: its kernel compiles
    each model once for both replicates (two workers would compile every model twice)."""
    (folder / "gallery.yaml").write_text(params(group))
    done = sbc("run", folder / "gallery.yaml", "--output-dir", folder / "out", "--workers", "1", "-q", timeout=1800)
    return done, folder / "out" / group


def check_verdicts(done: subprocess.CompletedProcess, out: Path) -> None:
    """Every unit's replicates ok, its variables ranked, its page linked from the index."""
    assert done.returncode == 0, done.stderr[-3000:]
    index = (out / "index.html").read_text()
    for unit in GROUPS[out.name]:
        table = pd.read_parquet(out / unit / "replicates.parquet")
        assert list(table["status"]) == ["ok", "ok"], (unit, table[["status", "message"]])
        ranked = set(pd.read_parquet(out / unit / "ranks.parquet")["variable"])
        assert CASES[unit][1] <= ranked, (unit, ranked)
        assert f'href="{unit}/summary.html"' in index and (out / unit / "summary.html").is_file()


def _outputs(notebook: Path) -> list[dict]:
    cells = json.loads(notebook.read_text())["cells"]
    return [o for c in cells if c["cell_type"] == "code" for o in c.get("outputs", [])]


def check_figures(out: Path, unit: str) -> None:
    """Each replicate notebook of ``unit`` shows its figures and the model graph, and no warning."""
    notebooks = sorted((out / unit / "replicates").glob("*.ipynb"))
    assert len(notebooks) == 2, notebooks
    for notebook in notebooks:
        outputs = _outputs(notebook)
        text = "".join("".join(o.get("text", "")) for o in outputs)
        assert "figure not drawn" not in text and "graph not drawn" not in text, text
        pngs = [o for o in outputs if "image/png" in o.get("data", {})]
        assert len(pngs) == FIGURES.get(unit, 3), f"{notebook}: design, mock data and trace figures"
        assert ("no design figure" in text) == (unit == "correlated"), text
        assert "Warning" not in text, text  # PyTensor's notes on speed are not shown
        assert any("image/svg+xml" in o.get("data", {}) for o in outputs)  # the model graph


def group_tests(group: str) -> tuple:
    """What every group's test file runs: the group's campaign (a module fixture, ``gallery``), a
    verdict for every shape and every replicate notebook's figures; a file adds its own tests."""

    @pytest.fixture(scope="module")
    def gallery(tmp_path_factory):
        return run(tmp_path_factory.mktemp(group), group)

    def test_every_shape_runs_to_a_verdict_with_the_default_settings(gallery):
        check_verdicts(*gallery)

    @pytest.mark.parametrize("unit", GROUPS[group])
    def test_every_replicate_notebook_shows_its_figures(gallery, unit):
        check_figures(gallery[1], unit)

    return gallery, test_every_shape_runs_to_a_verdict_with_the_default_settings, \
        test_every_replicate_notebook_shows_its_figures

