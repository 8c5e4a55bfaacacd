"""Failure capture: faults injected into real replicate kernels and Dask workers.

One campaign, four models built by ``tests/faulty_models.py``, two replicates each, one retry:

- ``hang``: replicate 0 sleeps in its model cell on the first attempt -> CellTimeoutError, recovered
- ``flaky``: replicate 1 raises on the first attempt -> PapermillExecutionError, recovered
- ``die``: replicate 1 ends its kernel (os._exit) on every attempt -> DeadKernelError, failed
- ``lost``: replicate 1 SIGKILLs its Dask worker on the first attempt -> KilledWorker, recovered
  (the scheduler is told to give up on a task after one lost worker, so the runner's own retry
  handles it, as it would after Dask's default three)

and the campaign must finish every other replicate, record each failure, exit 1, and leave no
process behind. Plus in-process checks: a kernel that fails to start, partial files on disk.
"""

import json
import os
import signal
import time
from pathlib import Path

import pandas as pd
import pytest

from processes import SBC, descendants, kill, start, wait_gone
from sbc_helpers.run import store

pytestmark = pytest.mark.slow  # whole campaigns on real processes

FAULTY = Path(__file__).resolve().parents[1] / "faulty_models.py"
# seconds per replicate: far above a normal replicate of the conjugate model with exact draws (2-8 s
# in a fresh kernel, 25-32 s with the machine loaded 5- to 10-fold); the hang runs beside
# the rest of the campaign, on the other worker
TIMEOUT = 75


def params(once: Path) -> str:
    def model(name, mode, replicate, always=False):
        once_dir = "" if always else f", once_dir: '{once / name}'"
        return (f"  - {{name: {name}, model: '{FAULTY}:faulty', "
                f"model_kwargs: {{mode: {mode}, replicates: [{replicate}]{once_dir}}}}}\n")

    return (
        "name: faults\nseed: 3\nreplicates: 2\nrank_draws: 10\nlog_likelihood: false\nmake_plots: false\n"
        "design: {maker: normal_normal_design, n_points: 4}\n"
        "inference: {method: exact, function: 'sbc_helpers.models:normal_normal_posterior', draws: 40}\n"
        f"timeout: {TIMEOUT}\nretries: 1\nmodels:\n"
        + model("hang", "hang", 0) + model("flaky", "raise", 1)
        + model("die", "die", 1, always=True) + model("lost", "kill_worker", 1)
    )


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    folder = tmp_path_factory.mktemp("faults")
    (folder / "faults.yaml").write_text(params(folder / "once"))
    log = folder / "run.log"
    cmd = [*SBC, "run", folder / "faults.yaml", "--workers", 2, "--output-dir", folder / "out", "--no-report"]
    started = time.monotonic()
    proc = start(cmd, log)
    tracked = set()
    try:
        while proc.poll() is None:
            tracked |= descendants(proc.pid)
            assert time.monotonic() - started < 900, "the fault campaign did not finish in 15 minutes"
            time.sleep(0.5)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    leftovers = wait_gone(tracked, 30)
    kill(leftovers)
    out = folder / "out" / "faults"
    records = {m: {r: record.model_dump() for r in range(2)
                   if (record := store.read_record(store.unit_dir(out, m), r)) is not None}
               for m in ("hang", "flaky", "die", "lost")}
    return {"rc": proc.returncode, "log": log.read_text(), "out": out, "records": records,
            "leftovers": leftovers, "seconds": time.monotonic() - started}


def test_each_failure_is_recorded_retried_and_the_rest_finishes(campaign):
    recs = campaign["records"]
    assert campaign["rc"] == 1, campaign["log"][-3000:]  # something is still failed

    hang = recs["hang"][0]
    assert (hang["status"], hang["attempts"], hang["earlier_errors"]) == ("ok", 2, "CellTimeoutError")
    flaky = recs["flaky"][1]
    assert (flaky["status"], flaky["attempts"], flaky["earlier_errors"]) == ("ok", 2, "ModelBuildError")
    lost = recs["lost"][1]
    assert (lost["status"], lost["attempts"], lost["earlier_errors"]) == ("ok", 2, "KilledWorker")
    die = recs["die"][1]
    assert (die["status"], die["error"], die["attempts"]) == ("failed", "DeadKernelError", 2), die
    assert die["earlier_errors"] == "DeadKernelError" and "exit code 1" in die["message"]
    # every other replicate ran once, fine
    for model, replicate in [("hang", 1), ("flaky", 0), ("die", 0), ("lost", 0)]:
        rec = recs[model][replicate]
        assert (rec["status"], rec["attempts"]) == ("ok", 1), rec
    assert "die replicate 1 failed: DeadKernelError" in campaign["log"]


def test_a_failed_replicate_keeps_its_notebook_as_far_as_it_ran(campaign):
    replicates = campaign["out"] / "die" / "replicates"
    notebook = json.loads((replicates / "0001.ipynb").read_text())
    ran = [t for c in notebook["cells"] if c["metadata"].get("papermill", {}).get("start_time")
           for t in c["metadata"].get("tags", [])]
    assert "design" in ran and "model" in ran and "fit" not in ran  # stopped in the model cell
    assert not (replicates / "0001.ranks.parquet").exists() and not (replicates / "0001.draws.nc").exists()


def test_tables_and_status_report_the_failure(campaign):
    out = campaign["out"]
    table = pd.read_parquet(out / "die" / "replicates.parquet")
    assert list(table["replicate"]) == [0, 1] and list(table["status"]) == ["ok", "failed"]
    assert table.loc[1, "error"] == "DeadKernelError"
    for model in ("hang", "flaky", "lost"):
        ranks = pd.read_parquet(out / model / "ranks.parquet")
        assert sorted(ranks["replicate"].unique()) == [0, 1]
    status = subprocess_status(out)
    assert status == {"hang": ["2", "0", "0", "0"], "flaky": ["2", "0", "0", "0"], "die": ["1", "1", "0", "0"],
                      "lost": ["2", "0", "0", "0"]}


def test_fault_campaign_counts_and_no_lost_replicate(campaign):
    recs = campaign["records"]
    rows = [r for by_rep in recs.values() for r in by_rep.values()]
    counts = {
        "replicates": len(rows),
        "executions": sum(r["attempts"] for r in rows),
        "failed": sum(r["status"] == "failed" for r in rows),
        "recovered": sum(r["status"] == "ok" and r["attempts"] > 1 for r in rows),
        "lost": 8 - len(rows),  # a replicate with no record at all
        "seconds": round(campaign["seconds"]),
    }
    print(f"\nfault injection: {counts}")
    assert counts["replicates"] == 8 and counts["lost"] == 0
    assert counts["failed"] == 1 and counts["recovered"] == 3 and counts["executions"] == 12
    assert not campaign["leftovers"], f"processes outlived the campaign: {campaign['leftovers']}"


def subprocess_status(out: Path) -> dict:
    from processes import sbc

    done = sbc("status", out)
    assert done.returncode == 0, done.stderr
    return {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines()[1:]}


# --- in process, no Dask -------------------------------------------------------------------------


def _task(**kwargs):
    from sbc_helpers.run.execute import ReplicateTask
    from sbc_helpers.run.tasks import template_path

    return ReplicateTask("m", 0, 1, template_path().read_text(), {"model": "hierarchical_noncentered"}, timeout=60,
                         **kwargs)


@pytest.mark.parametrize("reuse", [1, 0])
def test_a_kernel_that_does_not_start_is_recorded(tmp_path, monkeypatch, reuse):
    from sbc_helpers.run.execute import execute_replicate

    outcome = execute_replicate(_task(kernel_name="no-such-kernel", kernel_reuse=reuse))
    record = outcome.record
    assert record.status == "failed" and record.error == "NoSuchKernel", record
    # a kernel that exits as it starts
    spec = tmp_path / "kernels" / "broken"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({"argv": ["/bin/false", "{connection_file}"],
                                                  "display_name": "broken", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    outcome = execute_replicate(_task(kernel_name="broken", kernel_reuse=reuse))
    record = outcome.record
    assert record.status == "failed" and record.error in ("RuntimeError", "DeadKernelError"), record
    assert outcome.draws is None and outcome.ranks is None


def test_a_replicate_cut_short_is_run_again(tmp_path):
    """A replicate whose ranks or draws file was cut short is missing, so the next run redoes it."""
    from outcomes import outcome

    from sbc_helpers.contract import replicate_path

    store.save_replicate(tmp_path, outcome(0))
    assert store.state(tmp_path, 0) == "complete"
    for kind in ("ranks", "draws"):
        path = replicate_path(tmp_path, 0, kind)
        whole = path.read_bytes()
        path.write_bytes(whole[: len(whole) - 7])
        assert store.state(tmp_path, 0) == "missing", kind
        path.write_bytes(whole)
        assert store.state(tmp_path, 0) == "complete"
