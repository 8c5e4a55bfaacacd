"""A gallery of model shapes, each through the real ``sbc run`` with the default settings (figures
on): the workflow takes every name from the model and its design, and draws every figure.

One campaign holds every shape as a unit (two replicates each, tiny fits), so the cluster and the
kernels start once.
"""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

GALLERY = Path(__file__).resolve().parent / "gallery"
SBC = [sys.executable, "-m", "sbc_helpers.cli"]

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
# figures a replicate notebook shows (design, mock data, trace), where not all three
FIGURES = {"correlated": 2}  # its design is labels only: a note says there is no design figure


def _params() -> str:
    models = "".join(f"  - {{name: {name}, {entry.format(g=GALLERY)}}}\n" for name, (entry, _) in CASES.items())
    return ("name: gallery\nseed: 7\nreplicates: 2\nrank_draws: 20\ntimeout: 600\n"
            "inference: {method: nuts, draws: 60, tune: 60, chains: 2}\nmodels:\n" + models)


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gallery")
    (folder / "gallery.yaml").write_text(_params())
    done = subprocess.run([*SBC, "run", folder / "gallery.yaml", "--output-dir", folder / "out", "-q"],
                          capture_output=True, text=True, timeout=1800)
    return done, folder / "out" / "gallery"


def _outputs(notebook: Path) -> list[dict]:
    cells = json.loads(notebook.read_text())["cells"]
    return [o for c in cells if c["cell_type"] == "code" for o in c.get("outputs", [])]


@pytest.mark.slow
def test_every_shape_runs_to_a_verdict_with_the_default_settings(gallery):
    done, out = gallery
    assert done.returncode == 0, done.stderr[-3000:]
    index = (out / "index.html").read_text()
    for unit, (_, variables) in CASES.items():
        table = pd.read_parquet(out / unit / "replicates.parquet")
        assert list(table["status"]) == ["ok", "ok"], (unit, table[["status", "message"]])
        ranked = set(pd.read_parquet(out / unit / "ranks.parquet")["variable"])
        assert variables <= ranked, (unit, ranked)
        assert f'href="{unit}/summary.html"' in index


@pytest.mark.slow
@pytest.mark.parametrize("unit", list(CASES))
def test_every_replicate_notebook_shows_its_figures(gallery, unit):
    _, out = gallery
    for notebook in sorted((out / unit / "replicates").glob("*.ipynb")):
        outputs = _outputs(notebook)
        text = "".join("".join(o.get("text", "")) for o in outputs)
        assert "figure not drawn" not in text and "graph not drawn" not in text, text
        pngs = [o for o in outputs if "image/png" in o.get("data", {})]
        assert len(pngs) == FIGURES.get(unit, 3), f"{notebook}: design, mock data and trace figures"
        assert ("no design figure" in text) == (unit == "correlated"), text
        assert "Warning" not in text, text  # PyTensor's notes on speed are not shown
        assert any("image/svg+xml" in o.get("data", {}) for o in outputs)  # the model graph


@pytest.mark.slow
def test_a_constant_quantity_is_left_out_and_named(gallery):
    # an LKJ correlation matrix's diagonal is 1 in every prior draw: its ranks would test nothing
    _, out = gallery
    verdict = json.loads((out / "correlated" / "verdict.json").read_text())
    assert verdict["constant"] == ["chol_corr[0, 0]", "chol_corr[1, 1]"]
    ranked = set(pd.read_parquet(out / "correlated" / "ranks.parquet")["quantity"])
    assert "chol_corr[0, 1]" in ranked and not ranked & set(verdict["constant"])
    assert set(pd.read_csv(out / "correlated" / "calibration.csv")["quantity"]) == ranked
    assert "Not tested, the same true value in every replicate: chol_corr[0, 0], chol_corr[1, 1]." in (
        out / "correlated" / "summary.html").read_text()
    fits = pd.read_parquet(out / "correlated" / "replicates.parquet")
    assert fits["max_rhat"].notna().all()  # the constant has no R-hat; the others judge the fit


@pytest.mark.slow
def test_a_formula_model_states_its_priors(gallery):
    _, out = gallery
    described = (out / "formula" / "model.txt").read_text()
    assert "yield_t ~ rain_mm + (1|farm)" in described and "Priors" in described
    summary = (out / "formula" / "summary.html").read_text()
    assert "1|farm_sigma" in summary and "HalfNormal" in summary
