"""The replicate template under papermill: documented parameters, side-car files, warm = fresh."""

import json
from pathlib import Path

import nbformat
import papermill
import pytest

import pandas as pd
import xarray as xr

from sbc_helpers.contract import SIDE_CARS, STAGES, TEMPLATE_PARAMETERS, read_archive, replicate_path
from sbc_helpers.run import store
from sbc_helpers.run.execute import ReplicateTask, execute_replicate
from sbc_helpers.run.seeds import replicate_seed

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "templates" / "sbc_replicate.ipynb"  # the root's templates/ is the package's
TINY = {"inference": {"method": "nuts", "sampler": "nutpie", "draws": 60, "tune": 60, "chains": 2},
        "rank_draws": 30, "design": {"maker": "seed_design", "n_groups": 3, "n_points": 4, "seed": 1}}


@pytest.mark.parametrize("name", ["sbc_replicate.ipynb", "sbc_summary.ipynb"])
def test_templates_are_stored_without_outputs(name):
    nb = nbformat.read(ROOT / "templates" / name, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    assert sum("parameters" in c.metadata.get("tags", []) for c in code) == 1


def test_the_parameters_cell_declares_the_contract_parameters_typed_and_documented():
    params = papermill.inspect_notebook(str(TEMPLATE))
    assert [(name, info["inferred_type_name"]) for name, info in params.items()] == [
        (p.name, p.type) for p in TEMPLATE_PARAMETERS]
    # inference settings travel as one dict (the keyword arguments of fit), not as separate parameters
    assert not {"sampler", "draws", "tune", "chains", "target_accept"} & set(params)
    assert params["inference"]["inferred_type_name"] == "dict"
    for name, info in params.items():
        assert info["inferred_type_name"] != "None", name
        assert info["help"].strip(), f"parameter {name} has no comment"


def test_the_stage_tags_run_in_the_contract_order():
    nb = nbformat.read(TEMPLATE, as_version=4)
    tags = [t for c in nb.cells if c.cell_type == "code" for t in c.metadata.get("tags", [])]
    stages = [t for t in dict.fromkeys(tags) if t not in ("parameters", "watermark")]
    assert sorted(stages) == sorted(STAGES)
    assert [t for t in stages if t != "plots"] == [s for s in STAGES if s != "plots"]  # plots cells follow several


def test_template_runs_under_papermill_and_writes_sidecars(tmp_path):
    papermill.execute_notebook(
        str(TEMPLATE), str(tmp_path / "out.ipynb"), kernel_name="python3", progress_bar=False,
        parameters={**TINY, "output_dir": str(tmp_path), "seed": 7, "replicate": 3, "keep_draws": 40,
                    "derived": {"contrast": "alpha[:, 0] - alpha[:, 1]"}},
        cwd=str(tmp_path),
    )
    for name in SIDE_CARS.values():
        assert (tmp_path / name).is_file(), name
    record = json.loads((tmp_path / SIDE_CARS["record"]).read_text())
    assert record["replicate"] == 3 and record["seed"] == 7 and record["status"] == "ok"
    assert record["rank_draws"] == 30 and record["kept_draws"] == 40
    ranks = pd.read_parquet(tmp_path / SIDE_CARS["ranks"])
    assert (ranks["max_rank"] == 30).all()
    assert list(ranks["quantity"][-2:]) == ["contrast", "log_lik"]  # derived, then the log-likelihood
    archived = read_archive(tmp_path / SIDE_CARS["draws"])
    assert archived.sizes["draw"] == 40 and "true__alpha" in archived and "data__y" in archived
    executed = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs]
    assert any(o.get("output_type") == "display_data" and "image/png" in o.get("data", {}) for o in outputs)


def _task(replicate: int, reuse: int) -> ReplicateTask:
    params = {"model": "hierarchical_noncentered", "cores": 1, "quantities": [], "make_plots": False, **TINY}
    params["inference"] = {**TINY["inference"], "target_accept": 0.8}
    return ReplicateTask("m", replicate, replicate_seed(5, "m", replicate), TEMPLATE.read_text(), params,
                         timeout=300, kernel_reuse=reuse)


@pytest.mark.slow
def test_warm_kernel_gives_the_same_ranks_as_fresh_kernels(tmp_path):
    """A reused kernel must not leak state: results equal a fresh kernel's, replicate by replicate."""
    warm = [execute_replicate(_task(r, reuse=10)) for r in range(3)]
    fresh = [execute_replicate(_task(r, reuse=0)) for r in range(3)]
    for w, f in zip(warm, fresh, strict=True):
        assert w.record.status == f.record.status == "ok", (w.record, f.record)
        assert w.ranks.equals(f.ranks)
        assert w.draws == f.draws  # the archive's netCDF bytes
    # the warm kernel really was reused: later replicates skip the import cost
    assert warm[2].record.stage_seconds["imports"] < fresh[2].record.stage_seconds["imports"] / 5
    # an outcome carries the archive the notebook wrote, as netCDF bytes the store saves as they are
    archived = read_archive(warm[1].draws)
    assert archived.sizes["draw"] == 30  # keep_draws=0 keeps rank_draws
    assert {"true__sigma", "data__y", "z_alpha", "alpha"} <= set(archived.data_vars)
    store.save_replicate(tmp_path, warm[1])  # what the runner does with it
    assert store.state(tmp_path, 1) == "complete"
    pd.testing.assert_frame_equal(pd.read_parquet(replicate_path(tmp_path, 1, "ranks")), warm[1].ranks)
    xr.testing.assert_identical(read_archive(replicate_path(tmp_path, 1, "draws")), archived)


def test_a_failing_replicate_is_recorded_with_its_notebook():
    task = _task(0, reuse=10)
    task.parameters = {**task.parameters, "model": "no_such_model"}
    outcome = execute_replicate(task)
    record = outcome.record
    assert record.status == "failed"
    assert record.error == "BadReference"  # the cell's own exception
    assert "unknown model 'no_such_model'" in record.message
    assert outcome.notebook is not None  # the notebook as far as it ran
    assert outcome.draws is None and outcome.ranks is None


@pytest.mark.slow
def test_make_plots_flagged_draws_figures_only_for_a_flagged_fit():
    """``make_plots: flagged``: no figure for a fit the thresholds pass, all three for one they flag
    (the same replicate, judged against a lax and a strict ESS threshold)."""
    def figures_drawn(thresholds: dict) -> int:
        params = {"model": "hierarchical_noncentered", "cores": 1, "quantities": [], "make_plots": "flagged",
                  "thresholds": thresholds, **TINY}
        outcome = execute_replicate(ReplicateTask("m", 0, 11, TEMPLATE.read_text(), params, timeout=300,
                                                  kernel_reuse=10))
        assert outcome.record.status == "ok", outcome.record.message
        return outcome.notebook.count('"image/png"')

    lax = {"min_ess": 0, "max_rhat": 100, "divergences": 10**6, "treedepth_hits": 10**6, "min_bfmi": 0}
    assert figures_drawn(lax) == 0
    assert figures_drawn({**lax, "min_ess": 10**9}) == 3
