"""`sbc run --cluster slurm` on a real one-node SLURM cluster (scripts/slurm-local.sh), and the
settings of the batch and Kubernetes clusters.

The SLURM tests start the cluster from Debian's packages (installing them if missing, as root) and
skip, with the reason, only when it cannot start; with SBC_REQUIRE_SLURM=1 (as .ci/run sets) they
fail instead. One campaign runs on two one-core jobs while a test `scancel`s one of them: no
replicate is lost, the ranks are those of a local run, `sbc status` answers during the run, and no
job is left in the queue. No Kubernetes cluster is available: only the resource sbc would submit
is checked.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

from processes import SBC, descendants, free_port, kill, outside_attempts, sbc, start, stop, wait_gone

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "slurm-local.sh"
REPLICATES = 8
PARAMS = f"""
name: slurm
seed: 7
replicates: {REPLICATES}
rank_draws: 10
log_likelihood: false
make_plots: false
design: {{maker: seed_design, n_groups: 2, n_points: 4}}
inference: {{method: nuts, sampler: nutpie, draws: 40, tune: 40, chains: 1}}
timeout: 900
retries: 1
models:
  - {{name: user, model: slow_model.py:build}}
"""
# seconds of sleep per replicate: jobs are busy when one is cancelled
SLOW_MODEL = """
import time

from sbc_helpers.models.library import hierarchical_noncentered


def build(design):
    time.sleep(3)
    return hierarchical_noncentered(design)
"""


# --- settings: no cluster needed -----------------------------------------------------------------------


def _cluster(**raw):
    from sbc_helpers.run.params import Cluster

    return Cluster(**raw)


def test_cluster_section_is_checked_in_one_line(tmp_path):
    from sbc_helpers.errors import ParamsError
    from sbc_helpers.run.params import load_campaign

    assert _cluster(kind="slurm", adapt="1:4").adapt == (1, 4)
    cases = {"{kind: local, jobs: 2}": "go with a batch or Kubernetes cluster",
             "{kind: slurm, jobs: 2, adapt: '1:2'}": "jobs or adapt, not both",
             "{kind: slurm, adapt: '3:1'}": "1 <= MIN <= MAX",
             "{kind: slurm, settings: {processes: 4}}": "set by sbc",
             "{kind: slurm, settings: {env_extra: []}}": "renamed to 'job-script-prologue'",
             "{kind: slurm, settings: {partition: x}}": "not a SLURM setting",
             "{kind: condor}": "kind"}
    for section, message in cases.items():
        path = tmp_path / "p.yaml"
        path.write_text(PARAMS.replace("slow_model.py:build", "hierarchical_noncentered") + f"cluster: {section}\n")
        with pytest.raises(ParamsError) as err:
            load_campaign(path)
        assert message in str(err.value) and "\n" not in str(err.value), (section, str(err.value))


def test_command_line_flags_override_the_section(tmp_path):
    from sbc_helpers.errors import ParamsError
    from sbc_helpers.run.params import load_campaign, with_cluster

    path = tmp_path / "p.yaml"
    path.write_text(PARAMS + "cluster: {kind: slurm, jobs: 3, timeout: 30, settings: {queue: debug}}\n")
    campaign = load_campaign(path)
    assert with_cluster(campaign, adapt="2:5").cluster.model_dump() == {
        "kind": "slurm", "jobs": None, "adapt": (2, 5), "timeout": 30, "settings": {"queue": "debug"}}
    assert with_cluster(campaign, "pbs").cluster.settings == {"queue": "debug"}
    assert with_cluster(campaign, "local").cluster.model_dump() == {
        "kind": "local", "jobs": None, "adapt": None, "timeout": 30, "settings": {}}
    with pytest.raises(ParamsError, match="MIN:MAX"):
        with_cluster(campaign, adapt="many")
    refused = sbc("run", path, "--cluster", "slurm", "--workers", "2")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "--jobs" in refused.stderr


def test_jobqueue_options_layer_params_over_dask_config(monkeypatch):
    """Dask's jobqueue configuration (here its environment variables), the params' settings over
    it, and what sbc sets: processes = cores, the run's job name, the node-local compile cache."""
    import dask

    from sbc_helpers.run.clusters import KINDS

    monkeypatch.setenv("DASK_JOBQUEUE__SLURM__QUEUE", "from-env")
    monkeypatch.setenv("DASK_JOBQUEUE__SLURM__WALLTIME", "01:00:00")
    monkeypatch.setenv("DASK_JOBQUEUE__SLURM__JOB_SCRIPT_PROLOGUE", '["export FROM_ENV=1"]')
    dask.config.refresh()
    try:
        options = KINDS["slurm"].options({"walltime": "00:05:00", "cores": 3}, "sbc-test")
    finally:
        monkeypatch.undo()
        dask.config.refresh()
    assert options["queue"] == "from-env" and options["walltime"] == "00:05:00"
    assert options["cores"] == options["processes"] == 3 and options["job_name"] == "sbc-test"
    assert options["memory"] == "2GB" and options["log_directory"] == "/tmp"
    prologue = options["job_script_prologue"]
    assert prologue[-1] == "export FROM_ENV=1"
    assert any("base_compiledir=${TMPDIR:-/tmp}" in line for line in prologue)
    assert any("PROFILE__ENABLED=False" in line for line in prologue)
    # HTTP on the node's loopback; each worker and nanny on its node's address that routes to the scheduler
    assert options["worker_extra_args"] == ["--dashboard-address", "127.0.0.1:0", "--host", '"$SBC_WORKER_HOST"']
    route = next(line for line in prologue if line.startswith("SBC_WORKER_HOST=$(python -c "))
    assert route.endswith(f" {options['scheduler_options']['host']})")
    assert options["scheduler_options"]["dashboard_address"] == "127.0.0.1:0"
    assert options["scheduler_options"]["host"] not in ("", "0.0.0.0", "127.0.0.1")


def test_no_certificates_is_one_line_before_any_job(monkeypatch, tmp_path):
    """A certificate folder sbc cannot create, or no `cryptography` to make certificates, stops
    the run in one line before anything is submitted (no SLURM needed: it fails first)."""
    from distributed.security import Security

    from sbc_helpers.errors import ClusterUnavailable
    from sbc_helpers.run.clusters import dask_client

    missing = tmp_path / "missing"
    with pytest.raises(ClusterUnavailable, match=f"cannot write the cluster's TLS certificates in {missing}"):
        with dask_client(cluster=_cluster(kind="slurm", settings={"shared-temp-directory": str(missing)})):
            pass

    def no_cryptography(*args, **kwargs):
        raise ImportError("No module named 'cryptography'")

    monkeypatch.setattr(Security, "temporary", no_cryptography)
    for cluster in (None, _cluster(kind="slurm")):
        with pytest.raises(ClusterUnavailable, match="needs the 'cryptography' package"):
            with dask_client(1, cluster=cluster):
                pass


def test_kubernetes_spec_is_built():
    """No Kubernetes cluster here: only the DaskCluster resource sbc would submit is checked."""
    pytest.importorskip("dask_kubernetes")
    from sbc_helpers.errors import ClusterUnavailable
    from sbc_helpers.run.clusters.kinds.kubernetes import kubernetes_spec

    spec = _cluster(kind="kubernetes", jobs=3, settings={"image": "registry.example/sbc:1", "cores": 2,
                                                         "memory": "4G"})
    resource = kubernetes_spec(spec, "sbc-test")
    assert resource["kind"] == "DaskCluster" and resource["metadata"]["name"] == "sbc-test"
    worker = resource["spec"]["worker"]
    assert worker["replicas"] == 3
    container = worker["spec"]["containers"][0]
    assert container["image"] == "registry.example/sbc:1"
    assert container["args"][:6] == ["dask", "worker", "--nworkers", "2", "--nthreads", "1"]
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "4G"}
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES"] == "0"
    assert env["PYTENSOR_FLAGS"].startswith("base_compiledir=/tmp")
    scheduler = resource["spec"]["scheduler"]["spec"]["containers"][0]
    assert scheduler["args"][:2] == ["dask", "scheduler"]
    with pytest.raises(ClusterUnavailable, match="image"):
        kubernetes_spec(_cluster(kind="kubernetes"), "sbc-test")


# --- a real one-node SLURM cluster ------------------------------------------------------------------


@pytest.fixture(scope="module")
def slurm():
    """A one-node SLURM cluster for this module: the environment its clients need. Its folder is
    not under pytest's: munged runs as the munge user, who cannot enter those (mode 700)."""
    folder = Path(tempfile.mkdtemp(prefix="sbc-slurm-test-"))
    folder.chmod(0o755)
    # ports of its own: a cluster someone started with the defaults (6817, 6818) may be running
    env = {**os.environ, "SBC_SLURM_DIR": str(folder / "cluster"), "SBC_SLURM_CPUS": "2",
           "SBC_SLURM_CTLD_PORT": str(free_port()), "SBC_SLURM_D_PORT": str(free_port()),
           # the jobs' logs in this folder, not the node's /tmp: through Dask's jobqueue configuration
           "DASK_JOBQUEUE__SLURM__LOG_DIRECTORY": str(folder / "job-logs")}
    (folder / "job-logs").mkdir()
    try:
        done = subprocess.run([SCRIPT, "start"], capture_output=True, text=True, env=env, timeout=600)
        problem = None if done.returncode == 0 else (done.stderr.strip().splitlines() or ["no output"])[-1]
    except (OSError, subprocess.TimeoutExpired) as err:
        problem = str(err)
    if problem:
        if os.environ.get("SBC_REQUIRE_SLURM") == "1":
            pytest.fail(f"the one-node SLURM cluster did not start: {problem}")
        pytest.skip(f"the one-node SLURM cluster cannot start here: {problem}")
    env["SLURM_CONF"] = str(folder / "cluster" / "etc" / "slurm.conf")
    try:
        yield env
    finally:
        subprocess.run([SCRIPT, "stop"], capture_output=True, env=env, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


def _queue(env, *args) -> list[str]:
    done = subprocess.run(["squeue", "-h", "-o", "%i|%T|%j", *args], capture_output=True, text=True, env=env,
                          timeout=30, check=True)
    return done.stdout.split()


def _wait(predicate, timeout: float, what: str, proc=None, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"sbc ended while waiting for {what}: {log.read_text() if log else ''}")
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.5)
    return value


@pytest.fixture(scope="module")
def client_side(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("client")
    (folder / "slurm.yaml").write_text(PARAMS)
    (folder / "slow_model.py").write_text(SLOW_MODEL)
    return folder


def _ranks(campaign: Path) -> pd.DataFrame:
    ranks = pd.read_parquet(campaign / "user" / "ranks.parquet")
    return ranks.sort_values(["replicate", "quantity"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def cancelled_run(slurm, client_side, tmp_path_factory):
    """The campaign on two SLURM jobs; one is `scancel`led once the first replicate is saved, and
    `sbc status` is asked in between."""
    out = tmp_path_factory.mktemp("slurm-out")
    log = out / "run.log"
    replicates = out / "slurm" / "user" / "replicates"
    started = time.monotonic()
    proc = start([*SBC, "run", client_side / "slurm.yaml", "--cluster", "slurm", "--jobs", 2, "--output-dir", out,
                  "--no-report", "-v"], log, env=slurm)
    tracked = set()
    try:
        _wait(lambda: len([j for j in _queue(slurm, "-t", "R") if "|sbc-" in j]) == 2, 300, "2 running jobs", proc,
              log)
        _wait(lambda: list(replicates.glob("*.json")), 600, "finished replicate", proc, log)
        running = [j.split("|") for j in _queue(slurm, "-t", "R")]
        listening = _listeners(proc.pid, running[0][2])
        # at once, while both workers are busy (7 replicates to go); `sbc status` alongside
        asked = subprocess.Popen([*SBC, "status", out / "slurm"], env=slurm, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        victim = running[0][0]
        subprocess.run(["scancel", victim], env=slurm, check=True, timeout=30)
        stdout, stderr = asked.communicate(timeout=300)
        status = subprocess.CompletedProcess(asked.args, asked.returncode, stdout, stderr)
        code = proc.wait(timeout=900)
        seconds = time.monotonic() - started
        tracked |= descendants(proc.pid)
    finally:
        stop(proc, tracked)
    left = _queue(slurm)  # sbc waits, when it ends, until its cancelled jobs have left the queue
    job_logs = list(Path(slurm["DASK_JOBQUEUE__SLURM__LOG_DIRECTORY"]).glob(f"{running[0][2]}-*.err"))
    return {"campaign": out / "slurm", "code": code, "log": log.read_text(), "status": status, "victim": victim,
            "job_name": running[0][2], "left": left, "seconds": seconds, "job_logs": job_logs, "listening": listening}


def _listeners(pid: int, job_name: str) -> set[tuple[str, str]]:
    """(where, address) of every socket the run listens on: "sbc" (its client and scheduler) or
    "job" (the jobs' workers, nannies and kernels, found by their SLURM_JOB_NAME)."""
    import psutil

    def job_of(process) -> str | None:
        try:
            return process.environ().get("SLURM_JOB_NAME")
        except (psutil.Error, OSError):
            return None

    jobs = {p.pid for p in psutil.process_iter() if job_of(p) == job_name}
    owner = {**{p: "sbc" for p in {pid, *(p for p, _ in descendants(pid))}}, **{p: "job" for p in jobs}}
    return {(owner[c.pid], c.laddr.ip) for c in psutil.net_connections("inet")
            if c.status == psutil.CONN_LISTEN and c.pid in owner}


@pytest.fixture(scope="module")
def local_run(client_side, tmp_path_factory):
    out = tmp_path_factory.mktemp("local-out")
    done = sbc("run", client_side / "slurm.yaml", "--workers", 2, "--output-dir", out, "--no-report", "-q")
    assert done.returncode == 0, done.stderr
    return out / "slurm"


@pytest.mark.slow
def test_cancelled_job_loses_no_replicate_and_ranks_match_a_local_run(cancelled_run, local_run):
    run = cancelled_run
    assert run["code"] == 0, run["log"]
    table = pd.read_parquet(run["campaign"] / "user" / "replicates.parquet")
    assert list(table["replicate"]) == list(range(REPLICATES)) and (table["status"] == "ok").all(), table
    # the cancelled job was running a replicate: it failed with its worker and sbc ran it again
    assert "(KilledWorker); retrying" in run["log"] and (table["attempts"] == 2).sum() >= 1, run["log"]
    pd.testing.assert_frame_equal(_ranks(run["campaign"]), _ranks(local_run), check_exact=True)
    print(f"SLURM campaign with a cancelled job: {run['seconds']:.0f} s")


@pytest.mark.slow
def test_the_run_listens_only_on_the_address_the_jobs_reach_and_loopback(cancelled_run):
    """The scheduler on the login node's address the jobs are given, each worker and nanny on its
    node's address that routes to it, HTTP endpoints and kernels on 127.0.0.1: nothing on 0.0.0.0."""
    from distributed.utils import get_ip

    listening = cancelled_run["listening"]
    print("SLURM run's listeners:", sorted(listening))
    assert {where for where, _ in listening} == {"sbc", "job"}, listening
    assert {ip for _, ip in listening} == {"127.0.0.1", get_ip()}, listening


@pytest.mark.slow
def test_status_answers_during_the_run(cancelled_run):
    status = cancelled_run["status"]
    assert status.returncode == 0, status.stderr
    row = next(line.split() for line in status.stdout.splitlines() if line.startswith("user"))
    # asked once the first replicate was saved, answered while replicates were still being written
    assert int(row[1]) >= 1 and int(row[1]) + int(row[2]) + int(row[3]) + int(row[4]) == REPLICATES, status.stdout


@pytest.mark.slow
def test_no_job_is_left_after_the_run(cancelled_run):
    assert cancelled_run["job_name"].startswith("sbc-")
    assert cancelled_run["left"] == [], cancelled_run["left"]


@pytest.mark.slow
def test_job_settings_come_from_dask_jobqueue_configuration(cancelled_run):
    """DASK_JOBQUEUE__SLURM__LOG_DIRECTORY (set by the fixture) reached every job."""
    assert len(cancelled_run["job_logs"]) >= 2, cancelled_run["job_logs"]


@pytest.mark.slow
@pytest.mark.parametrize("section, message", [
    ("{kind: slurm, settings: {queue: nowhere}}", "SLURM refuses the worker job: invalid partition specified"),
    ("{kind: slurm, jobs: 2, timeout: 8, settings: {job_extra_directives: ['--begin=now+1hour']}}",
     "no SLURM worker started within 8 s (cluster.timeout): job "),
], ids=["unknown-partition", "never-starts"])
def test_a_queue_that_starts_no_worker_is_one_line(slurm, client_side, tmp_path, section, message):
    params = tmp_path / "p.yaml"
    params.write_text((client_side / "slurm.yaml").read_text() + f"cluster: {section}\n")
    (tmp_path / "slow_model.py").write_text(SLOW_MODEL)
    started = time.monotonic()
    done = sbc("run", params, "--output-dir", tmp_path / "out", "--no-report", env=slurm, timeout=300)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if not line.startswith("INFO")]
    assert len(lines) == 1 and lines[0].startswith("sbc: error:") and message in lines[0], done.stderr
    assert time.monotonic() - started < 120
    assert _queue(slurm) == []


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 128 + signal.SIGTERM)],
                         ids=["ctrl-c", "sigterm"])
def test_an_interrupted_run_leaves_no_job_behind(slurm, client_side, tmp_path, sig, code):
    """Ctrl-C (SIGINT to the terminal's process group) or SIGTERM (a batch system or `kill`
    stopping sbc): the run ends with the usual code and cancels its jobs on the way out."""
    log = tmp_path / "run.log"
    proc = start([*SBC, "run", client_side / "slurm.yaml", "--cluster", "slurm", "--jobs", 2, "--output-dir",
                  tmp_path / "out", "--no-report"], log, env=slurm)
    tracked = set()
    try:
        _wait(lambda: len(_queue(slurm, "-t", "R")) == 2, 300, "2 running jobs", proc, log)
        time.sleep(3)
        tracked |= descendants(proc.pid)
        os.killpg(proc.pid, sig)
        ended = proc.wait(timeout=120)
    finally:
        stop(proc, tracked)
    assert ended == code, log.read_text()
    if sig == signal.SIGINT:
        assert "interrupted" in log.read_text()
    assert _queue(slurm) == []
    kill(wait_gone(tracked, 30))


def test_a_client_without_the_runs_certificate_is_refused_and_the_certificates_go_with_the_run(slurm, tmp_path):
    """The SLURM cluster sbc starts speaks TLS with the run's own certificates: its client runs a
    task, a client without them (plain TCP, or TLS with no certificate) is refused. The folder the
    jobs read the certificates from is the owner's only and is gone once SIGTERM has ended the run."""
    code = """if __name__ == "__main__":
    import time
    from sbc_helpers.run.clusters import dask_client
    from sbc_helpers.run.params import Cluster
    with dask_client(cluster=Cluster(kind="slurm", jobs=1, timeout=120)) as client:
        print(client.submit(sum, [40, 2]).result())
        print("scheduler", client.scheduler.address)
        print("certificates", client.cluster.shared_temp_directory, flush=True)
        time.sleep(600)
"""
    log = tmp_path / "run.log"
    proc = start([sys.executable, "-c", code], log, env=slurm)
    try:
        _wait(lambda: "certificates" in log.read_text(), 180, "a task done on a SLURM worker", proc, log)
        lines = dict(line.split(" ", 1) for line in log.read_text().splitlines() if line.startswith(("sch", "cert")))
        address, certificates = lines["scheduler"], Path(lines["certificates"])
        attempts = outside_attempts(address)
        folder_mode = oct(certificates.stat().st_mode & 0o777)
        file_modes = {oct(path.stat().st_mode & 0o777) for path in certificates.iterdir()}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 128 + signal.SIGTERM, log.read_text()
    finally:
        stop(proc)
    assert "42" in log.read_text().split() and address.startswith("tls://")
    assert "answered" not in attempts.values(), attempts
    assert folder_mode == "0o700" and file_modes == {"0o600"}
    assert not certificates.exists()
    assert _queue(slurm) == []


def test_no_job_outlives_the_cluster_sbc_started_even_when_stopped_by_sigterm(slurm, tmp_path):
    """The quick tier's check of the clean-up on SLURM: a cluster started as `sbc run` starts it,
    one task run on its worker, then the process is sent SIGTERM (as a batch system or `kill`
    would): nothing of the run is left in the queue."""
    code = """if __name__ == "__main__":
    import time
    from sbc_helpers.run.clusters import dask_client
    from sbc_helpers.run.params import Cluster
    with dask_client(cluster=Cluster(kind="slurm", jobs=1, timeout=120)) as client:
        print(client.submit(sum, [40, 2]).result(), flush=True)
        time.sleep(600)
"""
    log = tmp_path / "run.log"
    proc = start([sys.executable, "-c", code], log, env=slurm)
    try:
        _wait(lambda: "42" in log.read_text().split(), 180, "a task done on a SLURM worker", proc, log)
        assert _queue(slurm), "no job in the queue while the cluster runs"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 128 + signal.SIGTERM, log.read_text()
    finally:
        stop(proc)
    assert _queue(slurm) == []
