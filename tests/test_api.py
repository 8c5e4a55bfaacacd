"""``sbc.calibrate``: a builder from the calling session (a closure here, pickled by value as a
notebook cell's would be) or a ``pm.Model`` runs the campaign ``sbc run`` runs, resumes with more
replicates, refuses a changed model, fails a bad one in the preflight's one line, and writes a
params file that ``sbc run`` reproduces to the same ranks."""

import json

import numpy as np
import pandas as pd
import pymc as pm
import pytest

import processes
import sbc_helpers as sbc
from sbc_helpers.errors import ParamsError, ResumeRefused, SBCError
from sbc_helpers.models.library import data_value, observed_value

TINY = {"rank_draws": 10, "make_plots": False, "workers": 1, "sequential": False, "report": False}
DOSES = pd.DataFrame({"dose": [0.0, 0.5, 1.0, 2.0]}, index=pd.Index(["a", "b", "c", "d"], name="patient"))


def dose_response(prior_sd: float):
    """A builder closing over a local variable, as a notebook cell defines one."""

    def build(design):
        with pm.Model(coords={"patient": design.index}) as model:
            dose = pm.Data("dose", design["dose"].to_numpy(), dims="patient")
            sd = pm.Data("prior_sd", prior_sd)
            slope = pm.Normal("slope", 0, sd)
            pm.Normal("response", slope * dose, 1.0, observed=np.zeros(len(design)), dims="patient")
        return model

    return build


def posterior(model, rng, draws):
    """The slope's exact (conjugate) posterior."""
    dose, y = data_value(model, "dose"), observed_value(model, "response")
    precision = 1 / data_value(model, "prior_sd") ** 2 + dose @ dose
    return {"slope": rng.normal(dose @ y / precision, precision ** -0.5, draws)}


EXACT = {"method": "exact", "function": posterior, "draws": 10}


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    out = tmp_path_factory.mktemp("calibrate")
    return sbc.calibrate(dose_response(2.0), DOSES, replicates=6, inference=EXACT, output_dir=out, name="doses",
                         **TINY)


@pytest.mark.slow
def test_a_closure_runs_the_replicate_notebooks_and_shows_its_verdict(first):
    assert first.verdict["done"] == 6 and first.verdict["failed"] == 0
    assert set(first.ranks["quantity"]) == {"slope", "log_lik"} and first.ranks["replicate"].nunique() == 6
    assert set(first.calibration["quantity"]) == {"slope", "log_lik"}
    assert len(first.replicates) == 6 and set(first.replicates["status"]) == {"ok"}
    notebook = json.loads((first.folder / "build" / "replicates" / "0003.ipynb").read_text())
    printed = "".join("".join(o.get("text", "")) for c in notebook["cells"] if "model" in c["metadata"].get("tags", [])
                      for o in c.get("outputs", []))
    assert "model 'build', defined in the calling session and shipped by value (cloudpickle, build.pkl)" in printed
    html = first._repr_html_()
    assert first.verdict["verdict"].replace("<", "&lt;") in html and "<table" in html and "log_lik" in html


@pytest.mark.slow
def test_more_replicates_resume_and_a_changed_model_is_refused(first):
    notebook = first.folder / "build" / "replicates" / "0000.ipynb"
    before, ranks = notebook.stat().st_mtime_ns, first.ranks
    more = sbc.calibrate(dose_response(2.0), DOSES, replicates=8, inference=EXACT, output_dir=first.folder.parent,
                         name="doses", **TINY)
    assert more.verdict["done"] == 8 and notebook.stat().st_mtime_ns == before
    pd.testing.assert_frame_equal(more.ranks[more.ranks["replicate"] < 6].reset_index(drop=True), ranks)
    with pytest.raises(ResumeRefused, match=r"build: .*\(model: build.pkl changed\)"):
        sbc.calibrate(dose_response(3.0), DOSES, replicates=8, inference=EXACT, output_dir=first.folder.parent,
                      name="doses", **TINY)


@pytest.mark.slow
def test_the_written_params_file_reproduces_the_ranks_with_sbc_run(first, tmp_path):
    params = first.to_yaml(tmp_path / "doses.yaml")
    assert (tmp_path / "build.py").is_file() and (tmp_path / "posterior.py").is_file()
    ran = processes.sbc("run", params, "--output-dir", tmp_path / "out", "--no-report", "--workers", "1", timeout=600)
    assert ran.returncode == 0, ran.stderr[-2000:]
    again = pd.read_parquet(tmp_path / "out" / "doses" / "build" / "ranks.parquet")
    ranks = first.ranks  # the folder's tables: 8 replicates when the resuming test ran first
    pd.testing.assert_frame_equal(again, ranks[ranks["replicate"] < 6].reset_index(drop=True))


@pytest.mark.slow
def test_a_pm_model_runs_as_it_is_and_has_no_source_to_write(tmp_path):
    with pm.Model(coords={"patient": DOSES.index}) as model:
        dose = pm.Data("dose", DOSES["dose"].to_numpy(), dims="patient")
        slope = pm.Normal("slope", 0, pm.Data("prior_sd", 1.0))
        pm.Normal("response", slope * dose, 1.0, observed=np.zeros(len(DOSES)), dims="patient")
    result = sbc.calibrate(model, replicates=3, inference={"method": "custom", "function": posterior, "draws": 10},
                           output_dir=tmp_path, name="as_is", **TINY)
    assert result.verdict["done"] == 3 and set(result.ranks["quantity"]) == {"slope", "log_lik"}
    with pytest.raises(SBCError, match="a pm.Model object, which has no source"):
        result.to_yaml(tmp_path / "as_is.yaml")


def test_a_bad_builder_fails_in_one_line_naming_it(tmp_path):
    def needs_weight(design):
        with pm.Model() as model:
            pm.Normal("response", 0, 1, observed=design["weight"].to_numpy())
        return model

    with pytest.raises(ParamsError) as raised:
        sbc.calibrate(needs_weight, DOSES, replicates=2, inference=EXACT, output_dir=tmp_path, **TINY)
    message = str(raised.value)
    assert "\n" not in message and "models.0 (needs_weight).model" in message and "KeyError: 'weight'" in message
    assert not (tmp_path / "needs_weight" / "needs_weight").exists()


def test_a_bad_keyword_is_the_params_file_error(tmp_path):
    with pytest.raises(ParamsError, match=r"^calibrate: rank_drawz: unknown key$"):
        sbc.calibrate(dose_response(1.0), DOSES, inference=EXACT, output_dir=tmp_path, rank_drawz=10)
