"""Clusters: the Dask client a campaign runs on.

- ``local`` (the default): a local cluster of single-threaded worker processes, one per core;
- an existing scheduler, given by address (``--scheduler``);
- ``slurm``, ``pbs``, ``sge``, ``lsf``: batch jobs through dask-jobqueue;
- ``kubernetes``: worker pods through dask-kubernetes' operator.

Batch jobs take their settings from Dask's jobqueue configuration (``jobqueue.<kind>.*`` in
``~/.config/dask/jobqueue.yaml`` or ``DASK_JOBQUEUE__<KIND>__*``), with the params file's
``cluster.settings`` over it. They are resolved once and passed as keywords: dask-jobqueue reads its
configuration again for every job it submits, so a later change would otherwise reach only some jobs.
Each job runs one single-threaded worker process per core (processes = cores), on the job's Python
(``python``, by default this one), with PyTensor's compile cache in a node-local folder.

``jobs: N`` keeps N jobs: an adaptive cluster with minimum = maximum = N, so a job lost to its
walltime, ``scancel`` or a node failure is replaced (a plain ``scale(N)`` never replaces it). The
scheduler gives up on a task at once when its worker dies (``allowed-failures`` 0), so the replicate
comes back to the runner as ``KilledWorker`` and sbc's own retry resubmits it: one retry mechanism,
with every attempt recorded.

Starting is checked: SLURM is asked whether it would take the job script (``sbatch --test-only``)
before anything is queued, a submission error ends the wait at once, and a queue that starts no
worker within ``cluster.timeout`` seconds ends it with the jobs' states; each as one line
(``ClusterUnavailable``). Every job carries the run's name (``sbc-<id>``) and is cancelled when the
run ends, however it ends: normally, on an error, on Ctrl-C, on SIGTERM or SIGHUP (turned into
``SystemExit`` for the duration), and from ``atexit`` if the clean-up itself was cut short. Only a
SIGKILL of ``sbc`` leaves jobs behind; their workers exit on their own once the scheduler is gone
(``death-timeout``, 60 s by default).

Every cluster sbc starts speaks TLS with certificates made for the run (``Security.temporary()``):
whoever lacks them cannot connect, so cannot run code as the campaign's user. The local cluster
keeps them in memory and listens on 127.0.0.1 only; batch jobs read theirs from a folder only the
owner can enter (0700, files 0600) on the shared file system (``shared-temp-directory``, else the
home folder), removed when the run ends. A scheduler given with ``--scheduler`` is reached with the
user's own Dask security settings (``distributed.comm.tls.*``).
"""

from __future__ import annotations

import atexit
import importlib.util
import logging
import os
import re
import shutil
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from distributed.diagnostics.plugin import WorkerPlugin

from sbc_helpers.errors import ClusterUnavailable

log = logging.getLogger("sbc")

KINDS = ("local", "slurm", "pbs", "sge", "lsf", "kubernetes")
JOBQUEUE = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster", "lsf": "LSFCluster"}
TITLES = {"slurm": "SLURM", "pbs": "PBS", "sge": "SGE", "lsf": "LSF", "kubernetes": "Kubernetes"}

# jobqueue settings sbc sets itself, and the deprecated names of others
RESERVED = {"name": "sbc names each run's jobs, to cancel them all at the end",
            "processes": "sbc runs one single-threaded worker process per core (processes = cores)"}
RENAMED = {"extra": "worker-extra-args", "env-extra": "job-script-prologue", "job-extra": "job-extra-directives",
           "header-skip": "job-directives-skip"}
# where neither the params nor Dask's configuration say: one core and 2 GB per job; job logs in the
# node's /tmp, which every node has (an absolute folder the node cannot see fails the job at start)
DEFAULTS = {"cores": 1, "memory": "2GB", "log-directory": "/tmp"}
KUBERNETES_KEYS = {"image", "namespace", "cores", "memory", "resources", "env"}
KUBERNETES_CONFIG = ("image", "namespace", "resources", "env")  # read from Dask's kubernetes.* too
# PyTensor's compile cache on the node's own disk: expanded by the job's shell on the node
NODE_COMPILE_DIR = "${TMPDIR:-/tmp}/sbc-$(id -un)/pytensor"
# the scheduler settings of every cluster sbc starts: one replicate at a time per worker thread,
# and a task whose worker dies fails at once (sbc retries it)
SCHEDULER_CONFIG = {"distributed.scheduler.worker-saturation": 1.0, "distributed.scheduler.allowed-failures": 0}
SCHEDULER_ENV = {"DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "1.0",
                 "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}  # the same, for a scheduler elsewhere
WORKER_ENV = {"DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False"}


@contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None, cluster=None, name: str = "sbc"):
    """A Dask client for a campaign: on an existing scheduler, on the cluster the params' ``cluster``
    section asks for (``cluster``: its settings, ``run.params.Cluster``), or on a local cluster of
    single-threaded processes."""
    kind = getattr(cluster, "kind", "local")
    if scheduler:
        with _existing(scheduler) as client:
            yield client
    elif kind in JOBQUEUE:
        with _jobqueue(cluster) as client:
            yield client
    elif kind == "kubernetes":
        with _kubernetes(cluster) as client:
            yield client
    else:
        with _local(workers) as client:
            yield client


def run_security():
    """Fresh TLS certificates for one run, in memory; one line if ``cryptography`` is missing."""
    from distributed.security import Security

    try:
        return Security.temporary()
    except ImportError as err:
        raise ClusterUnavailable(f"TLS for the cluster needs the 'cryptography' package: {err}") from None


@contextmanager
def _existing(scheduler: str):
    from dask.distributed import Client
    from distributed.security import Security

    security = Security()  # the user's distributed.comm.tls.* settings
    if not scheduler.startswith("tls://"):
        log.info("scheduler %s: connecting without TLS (anyone who reaches it can run code as you; "
                 "see the docs' Security page, docs/guide/security.md)", scheduler)
    try:
        client = Client(scheduler, timeout="30s", security=security)
    except (OSError, TimeoutError, ValueError) as err:
        raise ClusterUnavailable(f"cannot reach the Dask scheduler at {scheduler}: {err}") from None
    with client:
        workers = len(client.scheduler_info().get("workers", {}))
        log.info("scheduler %s: %d workers%s", scheduler, workers, "" if workers else "; waiting for some to join")
        yield client


@contextmanager
def _local(workers: int | None):
    import dask
    from dask.distributed import Client, LocalCluster

    # worker-saturation 1.0: the scheduler hands each single-threaded worker one replicate at a time
    # and queues the rest itself, so a worker that dies takes down only the replicate it was running
    # (Dask charges a lost worker to every task assigned to it). No dashboard; the scheduler's HTTP
    # endpoints on any free port. The workers' statistical profiler is off: it samples every thread
    # every 10 ms, and a worker's only thread here waits on its kernel. TLS with the run's own
    # certificates; scheduler, workers, nannies and their HTTP endpoints on 127.0.0.1.
    security = run_security()
    with dask.config.set({"distributed.scheduler.worker-saturation": 1.0,
                          "distributed.worker.profile.enabled": False}):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                               protocol="tls://", security=security, dashboard_address=None,
                               scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                               silence_logs=logging.ERROR)
    with cluster:
        with Client(cluster) as client:
            client.register_plugin(IgnoreInterrupt())
            yield client


class IgnoreInterrupt(WorkerPlugin):
    """Local workers leave Ctrl-C to the client, which stops them in order.

    A terminal sends SIGINT to the whole process group; workers that took it too would die mid-task
    with tracebacks, before the client could cancel their work and close the cluster. Workers of a
    cluster given with ``--scheduler`` are not touched.
    """

    name = "sbc-ignore-interrupt"

    def setup(self, worker) -> None:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)


# --- settings ---------------------------------------------------------------------------------------


def jobqueue_keys(kind: str) -> set[str]:
    """The settings dask-jobqueue takes for ``kind``, read from its packaged configuration (without
    importing it: see ``import_jobqueue``)."""
    import yaml

    spec = importlib.util.find_spec("dask_jobqueue")
    if spec is None or spec.origin is None:
        raise ValueError(f"cluster kind {kind!r} needs dask-jobqueue, which is not installed")
    packaged = yaml.safe_load((Path(spec.origin).parent / "jobqueue.yaml").read_text())
    return set(packaged["jobqueue"][kind])


def check_settings(kind: str, settings: dict) -> None:
    """Raise ``ValueError`` naming the first of ``settings`` that ``kind`` does not take."""
    if kind == "local":
        if settings:
            raise ValueError("settings go with a batch or Kubernetes cluster (kind: slurm, pbs, sge, lsf, kubernetes)")
        return
    known = KUBERNETES_KEYS if kind == "kubernetes" else jobqueue_keys(kind) - set(RESERVED) - set(RENAMED)
    for key in settings:
        dashed = str(key).replace("_", "-")
        if dashed in RESERVED:
            raise ValueError(f"settings.{key}: set by sbc ({RESERVED[dashed]})")
        if dashed in RENAMED:
            raise ValueError(f"settings.{key}: renamed to {RENAMED[dashed]!r} in dask-jobqueue")
        if dashed not in known:
            raise ValueError(f"settings.{key}: not a {TITLES[kind]} setting (known: {', '.join(sorted(known))})")


def import_jobqueue():
    """dask_jobqueue, without the SIGINT handler it installs when imported: ``sys.exit()``, which
    would turn Ctrl-C into a silent exit with code 0 and no message."""
    main = threading.current_thread() is threading.main_thread()
    before = signal.getsignal(signal.SIGINT) if main else None
    import dask_jobqueue

    if main and getattr(signal.getsignal(signal.SIGINT), "__module__", "") == "dask_jobqueue.runner":
        signal.signal(signal.SIGINT, before if callable(before) else signal.default_int_handler)
    return dask_jobqueue


def node_prologue(python: str) -> list[str]:
    """Shell lines each job runs before its workers: the job's Python first on PATH, Dask's
    statistical profiler off (as for local workers), PyTensor's compile cache on the node's disk
    (a later base_compiledir in the job's own PYTENSOR_FLAGS still wins)."""
    return [f'export PATH={shlex.quote(str(Path(python).parent))}:"$PATH"',
            *(f"export {k}={v}" for k, v in WORKER_ENV.items()),
            f'export PYTENSOR_FLAGS="base_compiledir={NODE_COMPILE_DIR}${{PYTENSOR_FLAGS:+,$PYTENSOR_FLAGS}}"']


def jobqueue_options(kind: str, settings: dict, job_name: str) -> dict:
    """Keyword arguments of dask-jobqueue's cluster for ``kind``: Dask's ``jobqueue.<kind>``
    configuration, ``settings`` over it, sbc's defaults where both are silent, and what sbc sets."""
    import dask

    import_jobqueue()  # registers the packaged defaults with Dask's configuration
    # key by key: a DASK_JOBQUEUE__SLURM__JOB_SCRIPT_PROLOGUE variable sits beside the packaged
    # job-script-prologue in Dask's mapping (two spellings, one setting); get() finds the one that wins
    keys = jobqueue_keys(kind) - set(RESERVED) - set(RENAMED)
    config = {key: dask.config.get(f"jobqueue.{kind}.{key}", None) for key in sorted(keys)}
    config.update({str(k).replace("_", "-"): v for k, v in settings.items()})
    for key, value in DEFAULTS.items():
        if config.get(key) is None:
            config[key] = value
    python = config.get("python") or sys.executable
    config["python"] = python
    config["job-script-prologue"] = [*node_prologue(python), *(config.get("job-script-prologue") or [])]
    # the scheduler's HTTP endpoints on the login node's loopback only (no dashboard)
    config["scheduler-options"] = {"dashboard_address": "127.0.0.1:0", **(config.get("scheduler-options") or {})}
    # and the workers' on their node's (the user's own --dashboard-address, later, wins)
    config["worker-extra-args"] = ["--dashboard-address", "127.0.0.1:0", *(config.get("worker-extra-args") or [])]
    options = {k.replace("-", "_"): v for k, v in config.items()}
    options.update(processes=int(options["cores"]), job_name=job_name)
    return options


def job_counts(cluster) -> tuple[int, int]:
    """(minimum, maximum) jobs: ``jobs`` for both, else ``adapt``, else one job."""
    if cluster.adapt:
        return tuple(cluster.adapt)
    return (cluster.jobs or 1, cluster.jobs or 1)


# --- batch systems: dask-jobqueue ---------------------------------------------------------------------


class SubmitFailed(RuntimeError):
    """A job the batch system refused (the submit command's errors, one line)."""


def _one_line(text: str) -> str:
    """The ``error:`` parts of a submit command's output, joined; else its first 300 characters."""
    errors = [re.split(r"(?:error|fatal):", line, maxsplit=1)[1].strip()
              for line in text.splitlines() if re.search(r"(?:error|fatal):", line)]
    return "; ".join(dict.fromkeys(errors)) if errors else " ".join(text.split())[:300]


def certificate_folder(shared: str | None) -> Path:
    """A new folder only the owner can enter (0700), for the certificates batch jobs read: in
    ``shared`` (jobqueue's ``shared-temp-directory``) or else the home folder, which the nodes share."""
    base = Path(os.path.expandvars(shared or "~")).expanduser()
    try:
        return Path(tempfile.mkdtemp(prefix=".sbc-tls-", dir=base))
    except OSError as err:
        raise ClusterUnavailable(f"cannot write the cluster's TLS certificates in {base}: {err.strerror} "
                                 "(set jobqueue.<kind>.shared-temp-directory to a folder the nodes share)") from None


def _job_class(base):
    """``base`` (a dask-jobqueue Job class) that keeps its submit error and is marked failed, so the
    start-up wait can report the error, and closing the cluster does not trip over a job that never
    started (dask-jobqueue 0.9: ``AssertionError(<Status.created>)``)."""
    from distributed.core import Status

    class Job(base):
        submit_error: str | None = None

        async def start(self):
            try:
                await super().start()
            except Exception as err:
                self.submit_error = _one_line(str(err))
                self.status = Status.failed
                raise SubmitFailed(self.submit_error) from None

    Job.__name__ = Job.__qualname__ = f"Sbc{base.__name__}"
    return Job


class _DropSubmitFailures(logging.Filter):
    """The tornado traceback of a refused job: the start-up wait reports it in one line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], SubmitFailed))


def _raise_exit(signum, frame):
    raise SystemExit(128 + signum)


@contextmanager
def exit_on_signals():
    """While the block runs: SIGTERM and SIGHUP raise ``SystemExit(128 + signal)``, so that
    ``finally`` blocks cancel the jobs (by default they end the process on the spot)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.signal(sig, _raise_exit) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _run(cmd: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def sbatch_test(script: str) -> None:
    """Ask SLURM whether it would take the worker job script, without queueing it: a partition,
    account, memory or time limit it refuses becomes one line before anything is submitted."""
    with tempfile.NamedTemporaryFile("w", suffix=".sh", prefix="sbc-job-", delete=False) as handle:
        handle.write(script)
    try:
        done = _run(["sbatch", "--test-only", handle.name])
    except FileNotFoundError:
        raise ClusterUnavailable("sbatch not found: run on a SLURM login node (or set PATH and SLURM_CONF)") from None
    finally:
        os.unlink(handle.name)
    if done.returncode != 0:
        raise ClusterUnavailable(f"SLURM refuses the worker job: {_one_line(done.stderr or done.stdout)}")


def _squeue(job_name: str) -> list[tuple[str, str, str]]:
    """(job id, state, reason) of the run's jobs still in SLURM's queue."""
    try:
        done = _run(["squeue", "-h", "--name", job_name, "-o", "%i|%T|%r"])
    except (OSError, subprocess.SubprocessError):
        return []
    return [tuple(line.split("|", 2)) for line in done.stdout.splitlines() if line.count("|") == 2]


def cancel_slurm_jobs(job_name: str, wait: float = 15) -> list[str]:
    """Cancel every job of the run by name, whatever the cluster object knows, and wait (up to
    ``wait`` seconds) until none is left in the queue. Returns those still listed then."""
    try:
        import getpass

        _run(["scancel", "--name", job_name, "--user", getpass.getuser()], timeout=30)
    except (OSError, subprocess.SubprocessError, KeyError) as err:
        log.warning("cancelling the SLURM jobs %s: %s", job_name, err)
        return []
    deadline = time.monotonic() + wait
    while (left := _squeue(job_name)) and time.monotonic() < deadline:
        time.sleep(0.25)
    return [f"{job} ({state.lower()})" for job, state, _ in left]


def _cancel_known_jobs(cluster) -> None:
    """Cancel the jobs a dask-jobqueue cluster submitted (PBS, SGE, LSF have no cancel-by-name)."""
    if cluster is None:
        return
    ids = [str(job.job_id) for job in list(cluster.workers.values()) if getattr(job, "job_id", None)]
    command = getattr(cluster.job_cls, "cancel_command", None)
    if ids and command:
        try:
            _run([*shlex.split(command), *ids], timeout=60)
        except (OSError, subprocess.SubprocessError) as err:
            log.warning("cancelling jobs %s: %s", ", ".join(ids), err)


def _describe_jobs(kind: str, cluster, job_name: str, log_directory: str) -> str:
    """The run's jobs as the batch system sees them, for the start-up timeout's message."""
    logs = f"job logs: {log_directory}/{job_name}-<job id>.err on the nodes"
    if kind == "slurm":
        jobs = _squeue(job_name)
        listed = ", ".join(f"job {job} {state.lower()} ({reason})" for job, state, reason in jobs)
        return f"{listed or 'no job in the queue'}; {logs}"
    ids = [str(job.job_id) for job in list(cluster.workers.values()) if getattr(job, "job_id", None)]
    return f"jobs {', '.join(ids)} submitted; {logs}" if ids else f"no job submitted; {logs}"


def _wait_for_a_worker(client, title: str, timeout: float, problem, describe) -> float:
    """Wait until a worker has joined; ``problem()`` returns a one-line reason to stop waiting early,
    or None; ``describe()`` says what was pending when the time is up. Returns the seconds waited."""
    start = time.monotonic()
    while not client.scheduler_info(n_workers=1).get("workers"):
        if (reason := problem()) is not None:
            raise ClusterUnavailable(reason)
        if time.monotonic() - start > timeout:
            raise ClusterUnavailable(f"no {title} worker started within {timeout:g} s (cluster.timeout): {describe()}")
        time.sleep(0.25)
    return time.monotonic() - start


@contextmanager
def _jobqueue(spec):
    """A client on a dask-jobqueue cluster of ``spec.kind``, a worker started; every job cancelled at
    the end."""
    import dask
    from dask.distributed import Client

    kind, title = spec.kind, TITLES[spec.kind]
    jobqueue = import_jobqueue()
    cls = getattr(jobqueue, JOBQUEUE[kind])
    job_name = f"sbc-{uuid.uuid4().hex[:8]}"
    options = jobqueue_options(kind, spec.settings, job_name)
    low, high = job_counts(spec)
    security = run_security()
    certificates = certificate_folder(options.get("shared_temp_directory"))
    options.update(security=security, shared_temp_directory=str(certificates))
    cluster = None

    def cancel() -> None:
        if kind == "slurm":
            left = cancel_slurm_jobs(job_name)
            if left:
                log.warning("SLURM jobs still listed 15 s after cancelling them: %s", ", ".join(left))
        else:
            _cancel_known_jobs(cluster)
        shutil.rmtree(certificates, ignore_errors=True)

    quiet = _DropSubmitFailures()
    logging.getLogger("tornado.application").addFilter(quiet)
    atexit.register(cancel)
    try:
        with exit_on_signals():
            try:
                with dask.config.set(SCHEDULER_CONFIG):
                    cluster = cls(job_cls=_job_class(cls.job_cls), **options)
            except (ValueError, TypeError, OSError) as err:
                raise ClusterUnavailable(f"cannot set up the {title} cluster: {_one_line(str(err))}") from None
            log.debug("%s worker job script:\n%s", title, cluster.job_script())
            if kind == "slurm":
                sbatch_test(cluster.job_script())
            with Client(cluster) as client:
                # adaptive even for a fixed size: it replaces a job that ended (walltime, scancel)
                cluster.adapt(minimum_jobs=low, maximum_jobs=high, interval="2s", wait_count=10)
                size = f"{low} job{'s' if low > 1 else ''}" if low == high else f"{low} to {high} jobs"
                cores = int(options["cores"])
                log.info("%s: %s named %s (%d core%s, %s each); waiting up to %g s for a worker", title, size,
                         job_name, cores, "s" if cores > 1 else "", options["memory"], spec.timeout)

                def problem() -> str | None:
                    jobs = list(cluster.workers.values())
                    errors = sorted({job.submit_error for job in jobs if getattr(job, "submit_error", None)})
                    if errors and not any(getattr(job, "job_id", None) for job in jobs):
                        return f"{title} refused the worker jobs: {errors[0]}"
                    return None

                waited = _wait_for_a_worker(client, title, spec.timeout, problem, lambda: _describe_jobs(
                    kind, cluster, job_name, options["log_directory"]))
                log.info("%s: first worker after %.1f s", title, waited)
                yield client
    finally:
        try:
            if cluster is not None:
                try:
                    cluster.close(timeout=60)
                except Exception as err:  # noqa: BLE001 - the jobs are cancelled below all the same
                    log.debug("closing the %s cluster: %s: %s", title, type(err).__name__, err)
            cancel()
        finally:
            atexit.unregister(cancel)
            logging.getLogger("tornado.application").removeFilter(quiet)


# --- Kubernetes: dask-kubernetes -----------------------------------------------------------------------


def kubernetes_settings(settings: dict) -> dict:
    """Dask's ``kubernetes.*`` configuration (image, namespace, resources, env), ``settings`` over it."""
    import dask

    resolved = {key: dask.config.get(f"kubernetes.{key}", None) for key in KUBERNETES_CONFIG}
    resolved.update(settings)
    return resolved


def kubernetes_spec(spec, name: str) -> dict:
    """The ``DaskCluster`` resource for dask-kubernetes' operator: ``jobs`` (or adapt's minimum)
    worker pods, each with ``cores`` single-threaded worker processes, on an image with sbc installed."""
    from dask_kubernetes.operator import make_cluster_spec

    settings = kubernetes_settings(spec.settings)
    image = settings.get("image")
    if not image or image.startswith("ghcr.io/dask/dask"):
        raise ClusterUnavailable("kubernetes needs cluster.settings.image: a container image with sbc installed "
                                 "(see the docs' Scaling out page, docs/guide/scaling.md)")
    cores = int(settings.get("cores") or 1)
    memory = str(settings.get("memory") or "2G")
    resources = settings.get("resources") or {"requests": {"cpu": str(cores), "memory": memory},
                                              "limits": {"cpu": str(cores), "memory": memory}}
    env = {**SCHEDULER_ENV, **WORKER_ENV, "PYTENSOR_FLAGS": "base_compiledir=/tmp/sbc/pytensor",
           **(settings.get("env") or {})}
    resource = make_cluster_spec(name=name, image=image, n_workers=job_counts(spec)[0], resources=resources, env=env,
                                 worker_command=f"dask worker --nworkers {cores} --nthreads 1")
    # the console scripts of current distributed: `dask scheduler` (make_cluster_spec writes dask-scheduler)
    scheduler = resource["spec"]["scheduler"]["spec"]["containers"][0]
    scheduler["args"] = ["dask", "scheduler", *scheduler["args"][1:]]
    return resource


@contextmanager
def _kubernetes(spec):
    """A client on a dask-kubernetes ``KubeCluster`` built from ``kubernetes_spec``; the cluster's
    resources are deleted at the end (the operator replaces pods that die in between)."""
    from dask.distributed import Client

    name = f"sbc-{uuid.uuid4().hex[:8]}"
    resource = kubernetes_spec(spec, name)
    low, high = job_counts(spec)
    try:
        from dask_kubernetes.operator import KubeCluster
    except ImportError as err:
        raise ClusterUnavailable(f"kubernetes needs dask-kubernetes (extra 'kubernetes'): {err}") from None
    cluster = None
    with exit_on_signals():
        try:
            try:
                cluster = KubeCluster(custom_cluster_spec=resource, namespace=kubernetes_settings(spec.settings)
                                      .get("namespace"), shutdown_on_close=True, quiet=True)
            except Exception as err:  # noqa: BLE001 - no credentials, no operator, refused: one line
                raise ClusterUnavailable(f"cannot start the Kubernetes cluster: {_one_line(str(err))}") from None
            if spec.adapt:
                cluster.adapt(minimum=low, maximum=high)
            with Client(cluster) as client:
                log.info("Kubernetes: cluster %s; waiting up to %g s for a worker pod", name, spec.timeout)
                waited = _wait_for_a_worker(client, "Kubernetes", spec.timeout, lambda: None,
                                            lambda: f"the pods of {name}: kubectl get pods -l dask.org/cluster-name={name}")
                log.info("Kubernetes: first worker after %.1f s", waited)
                yield client
        finally:
            if cluster is not None:
                try:
                    cluster.close()
                except Exception as err:  # noqa: BLE001
                    log.warning("deleting the Kubernetes cluster %s: %s", name, err)
