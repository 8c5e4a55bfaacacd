"""Scaling out, resuming, locking: real `sbc run`, `dask scheduler` and `dask worker` processes.

One tiny campaign (a user model file and a CSV design, both beside the params file only) runs
- on a cluster started by hand (a scheduler and two workers whose working folder is elsewhere),
  through `sbc run --scheduler`;
- on a local single-worker cluster, SIGKILLed after its first replicate, then resumed.
Both must give bitwise-identical ranks. Everything listens on 127.0.0.1 only.
"""

import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from processes import BIN, SBC, descendants, free_port, kill, outside_attempts, sbc, start, stop, wait_gone

pytestmark = pytest.mark.slow  # whole campaigns on real processes

REPLICATES = 6
# the conjugate model with exact draws: these tests are about processes, files and seeds, not fits
# (the SLURM test keeps a NUTS sampler, whose ranks must also match across clusters)
PARAMS = f"""
name: scale
seed: 7
replicates: {REPLICATES}
rank_draws: 10
log_likelihood: false
make_plots: false
design: design.csv
inference: {{method: exact, function: 'sbc_helpers.models:normal_normal_posterior', draws: 40}}
timeout: 900
retries: 1
models:
  - {{name: user, model: user_model.py:build}}
"""
# A user model that refuses to run from the client's copy inside a replicate kernel: it must have
# been shipped with the task and written into the worker's scratch folder (the kernel's cwd).
USER_MODEL = '''
import os
from pathlib import Path

from sbc_helpers.models.library import normal_normal


def build(design):
    try:
        from IPython import get_ipython
        in_kernel = get_ipython() is not None
    except ImportError:
        in_kernel = False
    if in_kernel and not Path(__file__).resolve().is_relative_to(Path(os.getcwd()).resolve()):
        raise RuntimeError(f"model loaded from {__file__}, not from the scratch folder {os.getcwd()}")
    return normal_normal(design)
'''


@pytest.fixture(scope="module")
def client_side(tmp_path_factory) -> Path:
    """The params file, its model file and its design file: a folder only the client reads."""
    from sbc_helpers.models.designs import normal_normal_design

    folder = tmp_path_factory.mktemp("client-only")
    (folder / "scale.yaml").write_text(PARAMS)
    (folder / "user_model.py").write_text(USER_MODEL)
    normal_normal_design(n_points=4, sigma=[0.5, 1.0, 1.5, 2.0]).to_csv(folder / "design.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """`dask scheduler` and two `dask worker --nthreads 1` processes on 127.0.0.1, started elsewhere."""
    from dask.distributed import Client

    home = tmp_path_factory.mktemp("worker-home")
    log = home / "cluster.log"
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = [start([BIN / "dask", "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"], log, cwd=home)]
    tracked = set()
    try:
        time.sleep(2)
        for i in range(2):
            procs.append(start([BIN / "dask", "worker", address, "--nthreads", "1", "--no-dashboard",
                                "--host", "127.0.0.1", "--name", f"worker-{i}"], log, cwd=home))
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=180)
        yield address, procs, tracked
    finally:
        for proc in procs:
            tracked |= descendants(proc.pid)
        for proc in reversed(procs):
            stop(proc)
        kill(wait_gone(tracked, 30))


@pytest.fixture(scope="module")
def remote_run(client_side, cluster, tmp_path_factory):
    """The campaign on the hand-started cluster, in one go."""
    address, procs, tracked = cluster
    out = tmp_path_factory.mktemp("remote-out")
    done = sbc("run", client_side / "scale.yaml", "--scheduler", address, "--output-dir", out, "--no-report", "-q")
    for proc in procs:
        tracked |= descendants(proc.pid)
    assert done.returncode == 0, done.stderr
    return out / "scale"


@pytest.fixture(scope="module")
def killed_and_resumed(client_side, tmp_path_factory):
    """The campaign on a local single-worker cluster: SIGKILLed (the whole process group) once its
    first replicate is saved, then run again with the same command."""
    out = tmp_path_factory.mktemp("local-out")
    replicates = out / "scale" / "user" / "replicates"
    cmd = [*SBC, "run", client_side / "scale.yaml", "--workers", 1, "--output-dir", out, "--no-report", "-q"]
    proc = start(cmd, out / "killed.log")
    tracked = set()
    deadline = time.monotonic() + 600
    while not list(replicates.glob("*.json")):
        tracked |= descendants(proc.pid)  # the Dask worker and its kernel, as they appear
        assert proc.poll() is None, (out / "killed.log").read_text()
        assert time.monotonic() < deadline, "no replicate finished in 10 minutes"
        time.sleep(0.2)
    tracked |= descendants(proc.pid)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    orphans = wait_gone(tracked, 30)  # kernels live in their own sessions; they must follow their worker
    kill(orphans)
    finished = {p.name: p.stat().st_mtime_ns for p in replicates.glob("*.ipynb")
                if (replicates / p.name.replace(".ipynb", ".json")).is_file()}
    resumed = sbc("run", client_side / "scale.yaml", "--workers", 1, "--output-dir", out, "--no-report")
    assert resumed.returncode == 0, resumed.stderr
    return {"campaign": out / "scale", "finished": finished, "orphans": orphans, "tracked": tracked,
            "stderr": resumed.stderr}


def _ranks(campaign: Path) -> pd.DataFrame:
    ranks = pd.read_parquet(campaign / "user" / "ranks.parquet")
    return ranks.sort_values(["replicate", "quantity"]).reset_index(drop=True)


def test_tasks_carry_user_files_not_client_paths(client_side):
    """What a worker receives: the model and design files' contents, no path on the client."""
    from sbc_helpers.run.params import load_campaign
    from sbc_helpers.run.tasks import plan

    campaign = load_campaign(client_side / "scale.yaml")
    tasks, skipped = plan(campaign, client_side / "no-output", cores=1)
    assert skipped == 0 and len(tasks) == REPLICATES
    task = tasks[0]
    model_file, func = task.parameters["model"].rsplit(":", 1)
    assert func == "build" and not Path(model_file).is_absolute()
    assert task.files[model_file] == (client_side / "user_model.py").read_bytes()
    design_file = task.parameters["design"]["file"]
    assert task.files[design_file] == (client_side / "design.csv").read_bytes()
    assert str(client_side).encode() not in pickle.dumps(task)


def test_remote_cluster_gives_the_ranks_of_a_local_single_worker_run(remote_run, killed_and_resumed):
    remote, local = _ranks(remote_run), _ranks(killed_and_resumed["campaign"])
    assert list(remote["replicate"].unique()) == list(range(REPLICATES))
    pd.testing.assert_frame_equal(remote, local, check_exact=True)
    table = pd.read_parquet(remote_run / "user" / "replicates.parquet")
    assert (table["status"] == "ok").all() and (table["attempts"] == 1).all()
    # the notebooks ran the shipped copies, from the worker's scratch folder
    notebook = (remote_run / "user" / "replicates" / "0000.ipynb").read_text()
    assert "sbc_files/" in notebook and "client-only" not in notebook


def test_sigkill_then_resume_redoes_nothing_finished(killed_and_resumed):
    run = killed_and_resumed
    assert 1 <= len(run["finished"]) < REPLICATES, run["finished"]
    replicates = run["campaign"] / "user" / "replicates"
    for name, mtime in run["finished"].items():
        assert (replicates / name).stat().st_mtime_ns == mtime, f"{name} was run again"
    done = len(run["finished"])
    assert f"ran {REPLICATES - done}, skipped {done}" in run["stderr"]
    assert not run["orphans"], f"processes outlived the killed run: {run['orphans']}"
    assert not list(replicates.glob(".*.tmp"))  # temporary files of the killed run were cleaned
    table = pd.read_parquet(run["campaign"] / "user" / "replicates.parquet")
    assert list(table["replicate"]) == list(range(REPLICATES)) and (table["status"] == "ok").all()


def test_a_second_concurrent_run_is_refused(client_side, tmp_path):
    out = tmp_path / "out"
    cmd = [*SBC, "run", client_side / "scale.yaml", "--workers", 1, "--output-dir", out, "--no-report", "-q"]
    first, second = start(cmd, tmp_path / "a.log"), start(cmd, tmp_path / "b.log")
    procs = {first: tmp_path / "a.log", second: tmp_path / "b.log"}
    tracked = set()
    try:
        deadline = time.monotonic() + 600
        while all(p.poll() is None for p in procs) and time.monotonic() < deadline:
            for p in procs:
                tracked |= descendants(p.pid)
            time.sleep(0.2)
        refused = next(p for p in procs if p.poll() is not None)
        assert refused.returncode == 2
        lines = procs[refused].read_text().strip().splitlines()
        assert len(lines) == 1, lines
        assert lines[0].startswith("sbc: error:") and "in use by another 'sbc run'" in lines[0]
        winner = next(p for p in procs if p is not refused)
        assert winner.poll() is None  # the other run goes on (until the test stops it)
    finally:
        for p in procs:
            tracked |= descendants(p.pid)
        for p in procs:
            stop(p)
        kill(wait_gone(tracked, 30))


def test_what_a_worker_imports_leaves_out_the_modelling_stack():
    """A Dask worker only runs notebooks and ships their files back: unpickling a task or the
    runner's plugin must not import PyMC and friends (seconds of start-up and hundreds of MB per
    worker); the replicate kernel imports them."""
    heavy = ("pymc", "pytensor", "arviz_stats", "arviz_plots", "xarray", "matplotlib", "numba")
    code = ("import sys, sbc_helpers.run.execute, sbc_helpers.run.runner; "
            f"print(','.join(m for m in {heavy!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_local_workers_run_without_the_profiler(tmp_path):
    """`sbc run`'s local cluster: one-threaded workers fed one replicate at a time, without Dask's
    statistical profiler (it sampled the waiting worker thread every 10 ms: a quarter of the
    worker processes' CPU in a campaign)."""
    code = """if __name__ == "__main__":
    import dask
    from sbc_helpers.run.clusters import dask_client
    with dask_client(1, None) as client:
        print(client.run(lambda: (dask.config.get("distributed.worker.profile.enabled"),
                                  dask.config.get("distributed.scheduler.worker-saturation"))))
        print(client.nthreads())
"""
    script = tmp_path / "probe.py"
    script.write_text(code)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True, timeout=120)
    settings, threads = done.stdout.strip().splitlines()[-2:]
    assert settings.count("(False, 1.0)") == 1 and "True" not in settings
    assert list(eval(threads).values()) == [1]  # noqa: S307 - our own probe's printed dict


def test_local_cluster_listens_on_loopback_only_and_refuses_clients_without_its_certificate(tmp_path):
    """`sbc run`'s local cluster: every socket its processes listen on is on 127.0.0.1, and a
    client without the run's certificate (plain TCP, or TLS with no certificate) is refused while
    the run's own client works."""
    code = """if __name__ == "__main__":
    import os, sys, psutil
    from sbc_helpers.run.clusters import dask_client
    with dask_client(2) as client:
        print(client.submit(sum, [40, 2]).result())
        pids = {os.getpid(), *(p.pid for p in psutil.Process().children(recursive=True))}
        print(sorted({c.laddr.ip for c in psutil.net_connections("inet") if c.pid in pids and c.status == "LISTEN"}))
        print(client.scheduler.address, flush=True)
        sys.stdin.readline()
"""
    script = tmp_path / "probe.py"
    script.write_text(code)
    proc = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        answer, listening, address = (proc.stdout.readline().strip() for _ in range(3))
        attempts = outside_attempts(address)
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.wait(timeout=60) == 0
    finally:
        stop(proc)
    assert answer == "42" and address.startswith("tls://127.0.0.1:")
    assert listening == "['127.0.0.1']"
    assert "answered" not in attempts.values(), attempts
