"""Batch jobs through dask-jobqueue: what every batch kind shares (``Jobqueue``).

Jobs take their settings from Dask's jobqueue configuration (``jobqueue.<kind>.*`` in
``~/.config/dask/jobqueue.yaml`` or ``DASK_JOBQUEUE__<KIND>__*``), with the params file's
``cluster.settings`` over it. They are resolved once and passed as keywords: dask-jobqueue reads its
configuration again for every job it submits, so a later change would otherwise reach only some jobs.
Each job runs one single-threaded worker process per core (processes = cores), on the job's Python
(``python``, by default this one), with PyTensor's compile cache in a node-local folder.

``jobs: N`` keeps N jobs: an adaptive cluster with minimum = maximum = N, so a job lost to its
walltime, ``scancel`` or a node failure is replaced (a plain ``scale(N)`` never replaces it).

Starting is checked: a submission error ends the wait at once, and a queue that starts no worker
within ``cluster.timeout`` seconds ends it with the jobs' states; each as one line
(``ClusterUnavailable``). Every job carries the run's name (``sbc-<id>``) and is cancelled when the
run ends, however it ends: normally, on an error, on Ctrl-C, on SIGTERM or SIGHUP (turned into
``SystemExit`` for the duration), and from ``atexit`` if the clean-up itself was cut short. Only a
SIGKILL of ``sbc`` leaves jobs behind; their workers exit on their own once the scheduler is gone
(``death-timeout``, 60 s by default).

TLS with the run's certificates: the jobs read theirs from a folder only the owner can enter (0700,
files 0600) on the shared file system (``shared-temp-directory``, else the home folder), removed
when the run ends. Listeners: the scheduler on the login node's address that Dask gives the jobs
(its HTTP endpoint on 127.0.0.1), each worker and nanny on its node's address that routes to the
scheduler (their HTTP endpoints on the node's 127.0.0.1); a jobqueue ``interface`` setting, or the
user's own ``--host``/``--interface``/``--listen-address`` worker arguments, replace sbc's choice.
"""

from __future__ import annotations

import atexit
import importlib.util
import logging
import shlex
import shutil
import subprocess
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path

from sbc_helpers.errors import ClusterUnavailable
from sbc_helpers.run.clusters import settings as dask_settings
from sbc_helpers.run.clusters.base import Kind, command_errors, job_counts, wait_for_a_worker

log = logging.getLogger("sbc")

# jobqueue settings sbc sets itself, and the deprecated names of others
RESERVED = {"name": "sbc names each run's jobs, to cancel them all at the end",
            "processes": "sbc runs one single-threaded worker process per core (processes = cores)"}
RENAMED = {"extra": "worker-extra-args", "env-extra": "job-script-prologue", "job-extra": "job-extra-directives",
           "header-skip": "job-directives-skip"}
# where neither the params nor Dask's configuration say: one core and 2 GB per job; job logs in the
# node's /tmp, which every node has (an absolute folder the node cannot see fails the job at start)
DEFAULTS = {"cores": 1, "memory": "2GB", "log-directory": "/tmp"}
# PyTensor's compile cache on the node's own disk: expanded by the job's shell on the node
NODE_COMPILE_DIR = "${TMPDIR:-/tmp}/sbc-$(id -un)/pytensor"
# the worker arguments that choose where a worker listens: given by the user, sbc adds none
WORKER_ADDRESS_ARGS = ("--host", "--interface", "--listen-address")
# the job's address that routes to the scheduler (Dask's own choice for a worker's contact address)
ROUTE = ('import sys; from distributed.utils import get_ip, get_ipv6; h = sys.argv[1]; '
         'print(get_ipv6(h) if ":" in h else get_ip(h))')


def run_command(cmd: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    """Run a batch system's command, its output captured as text."""
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def jobqueue_keys(kind: str) -> set[str]:
    """The settings dask-jobqueue takes for ``kind``, read from its packaged configuration (without
    importing it: see ``signals.import_jobqueue``)."""
    import yaml

    spec = importlib.util.find_spec("dask_jobqueue")
    if spec is None or spec.origin is None:
        raise ValueError(f"cluster kind {kind!r} needs dask-jobqueue, which is not installed")
    packaged = yaml.safe_load((Path(spec.origin).parent / "jobqueue.yaml").read_text())
    return set(packaged["jobqueue"][kind])


def node_prologue(python: str) -> list[str]:
    """Shell lines each job runs before its workers: the job's Python first on PATH, sbc's Dask
    settings (``settings``), PyTensor's compile cache on the node's disk (a later base_compiledir in
    the job's own PYTENSOR_FLAGS still wins)."""
    return [f'export PATH={shlex.quote(str(Path(python).parent))}:"$PATH"',
            *(f"export {k}={v}" for k, v in dask_settings.environment().items()),
            f'export PYTENSOR_FLAGS="base_compiledir={NODE_COMPILE_DIR}${{PYTENSOR_FLAGS:+,$PYTENSOR_FLAGS}}"']


def listen_on_routes(config: dict) -> list[str]:
    """Give the scheduler and workers of ``config`` (dashed jobqueue settings) one address each
    instead of all their machine's: the scheduler the login node's address Dask would hand the
    jobs, each worker and nanny its node's address that routes to the scheduler's. Returns the
    job's shell lines that find the latter."""
    if config.get("interface"):  # dask-jobqueue puts scheduler and workers on that interface
        return []
    from distributed.utils import get_ip, get_ip_interface

    scheduler = config["scheduler-options"]
    if "host" not in scheduler and "interface" not in scheduler:
        scheduler["host"] = get_ip()
    host = scheduler.get("host") or get_ip_interface(scheduler["interface"])
    arguments = [str(a).split("=", 1)[0] for a in config["worker-extra-args"]]
    if any(a in WORKER_ADDRESS_ARGS for a in arguments):
        return []
    config["worker-extra-args"] += ["--host", '"$SBC_WORKER_HOST"']
    return [f"SBC_WORKER_HOST=$(python -c {shlex.quote(ROUTE)} {shlex.quote(host)})"]


class SubmitFailed(RuntimeError):
    """A job the batch system refused (the submit command's errors, one line)."""


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
                self.submit_error = command_errors(str(err))
                self.status = Status.failed
                raise SubmitFailed(self.submit_error) from None

    Job.__name__ = Job.__qualname__ = f"Sbc{base.__name__}"
    return Job


class _DropSubmitFailures(logging.Filter):
    """The tornado traceback of a refused job: the start-up wait reports it in one line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], SubmitFailed))


def job_ids(cluster) -> list[str]:
    """The ids of the jobs a dask-jobqueue cluster submitted."""
    return [str(job.job_id) for job in list(cluster.workers.values()) if getattr(job, "job_id", None)]


class Jobqueue(Kind):
    """A batch system through dask-jobqueue's ``cluster_class``. The hooks ``check_script``,
    ``cancel`` and ``describe`` are what a batch system can do better than the generic ones."""

    def __init__(self, name: str, title: str, cluster_class: str, order: int):
        self.name, self.title, self.cluster_class, self.order = name, title, cluster_class, order

    def check(self, settings: dict) -> None:
        known = jobqueue_keys(self.name) - set(RESERVED) - set(RENAMED)
        for key in settings:
            dashed = str(key).replace("_", "-")
            if dashed in RESERVED:
                raise ValueError(f"settings.{key}: set by sbc ({RESERVED[dashed]})")
            if dashed in RENAMED:
                raise ValueError(f"settings.{key}: renamed to {RENAMED[dashed]!r} in dask-jobqueue")
            if dashed not in known:
                raise ValueError(f"settings.{key}: not a {self.title} setting (known: {', '.join(sorted(known))})")

    def options(self, settings: dict, job_name: str) -> dict:
        """Keyword arguments of dask-jobqueue's cluster: Dask's ``jobqueue.<kind>`` configuration,
        ``settings`` over it, sbc's defaults where both are silent, and what sbc sets."""
        import dask

        from sbc_helpers.run.clusters.signals import import_jobqueue

        import_jobqueue()  # registers the packaged defaults with Dask's configuration
        # key by key: a DASK_JOBQUEUE__SLURM__JOB_SCRIPT_PROLOGUE variable sits beside the packaged
        # job-script-prologue in Dask's mapping (two spellings, one setting); get() finds the one that wins
        keys = jobqueue_keys(self.name) - set(RESERVED) - set(RENAMED)
        config = {key: dask.config.get(f"jobqueue.{self.name}.{key}", None) for key in sorted(keys)}
        config.update({str(k).replace("_", "-"): v for k, v in settings.items()})
        for key, value in DEFAULTS.items():
            if config.get(key) is None:
                config[key] = value
        python = config.get("python") or sys.executable
        config["python"] = python
        # the scheduler's HTTP endpoints on the login node's loopback only (no dashboard)
        config["scheduler-options"] = {"dashboard_address": "127.0.0.1:0", **(config.get("scheduler-options") or {})}
        # and the workers' on their node's (the user's own --dashboard-address, later, wins)
        config["worker-extra-args"] = ["--dashboard-address", "127.0.0.1:0", *(config.get("worker-extra-args") or [])]
        route = listen_on_routes(config)
        config["job-script-prologue"] = [*node_prologue(python), *route, *(config.get("job-script-prologue") or [])]
        options = {k.replace("-", "_"): v for k, v in config.items()}
        options.update(processes=int(options["cores"]), job_name=job_name)
        return options

    def check_script(self, script: str) -> None:
        """Raise ``ClusterUnavailable`` if the batch system would refuse the job script."""

    def cancel(self, cluster, job_name: str) -> None:
        """Cancel the run's jobs: those the cluster submitted, by id."""
        ids = job_ids(cluster) if cluster is not None else []
        command = getattr(cluster.job_cls, "cancel_command", None) if cluster is not None else None
        if ids and command:
            try:
                run_command([*shlex.split(command), *ids], timeout=60)
            except (OSError, subprocess.SubprocessError) as err:
                log.warning("cancelling jobs %s: %s", ", ".join(ids), err)

    def describe(self, cluster, job_name: str) -> str:
        """The run's jobs as the batch system sees them, for the start-up timeout's message."""
        ids = job_ids(cluster)
        return f"jobs {', '.join(ids)} submitted" if ids else "no job submitted"

    @contextmanager
    def client(self, spec, workers: int | None):
        """A client on a dask-jobqueue cluster, a worker started; every job cancelled at the end."""
        import dask
        from dask.distributed import Client

        from sbc_helpers.run.clusters.security import certificate_folder, run_security
        from sbc_helpers.run.clusters.signals import exit_on_signals, import_jobqueue

        cls = getattr(import_jobqueue(), self.cluster_class)
        job_name = f"sbc-{uuid.uuid4().hex[:8]}"
        options = self.options(spec.settings, job_name)
        low, high = job_counts(spec)
        security = run_security()
        certificates = certificate_folder(options.get("shared_temp_directory"))
        options.update(security=security, shared_temp_directory=str(certificates))
        cluster = None

        def cancel() -> None:
            self.cancel(cluster, job_name)
            shutil.rmtree(certificates, ignore_errors=True)

        quiet = _DropSubmitFailures()
        logging.getLogger("tornado.application").addFilter(quiet)
        atexit.register(cancel)
        try:
            with exit_on_signals():
                try:
                    with dask.config.set(dask_settings.config()):
                        cluster = cls(job_cls=_job_class(cls.job_cls), **options)
                except (ValueError, TypeError, OSError) as err:
                    raise ClusterUnavailable(f"cannot set up the {self.title} cluster: {command_errors(str(err))}") from None
                log.debug("%s worker job script:\n%s", self.title, cluster.job_script())
                self.check_script(cluster.job_script())
                with Client(cluster) as client:
                    # adaptive even for a fixed size: it replaces a job that ended (walltime, scancel)
                    cluster.adapt(minimum_jobs=low, maximum_jobs=high, interval="2s", wait_count=10)
                    size = f"{low} job{'s' if low > 1 else ''}" if low == high else f"{low} to {high} jobs"
                    cores = int(options["cores"])
                    log.info("%s: %s named %s (%d core%s, %s each); waiting up to %g s for a worker", self.title,
                             size, job_name, cores, "s" if cores > 1 else "", options["memory"], spec.timeout)

                    def problem() -> str | None:
                        jobs = list(cluster.workers.values())
                        errors = sorted({job.submit_error for job in jobs if getattr(job, "submit_error", None)})
                        if errors and not any(getattr(job, "job_id", None) for job in jobs):
                            return f"{self.title} refused the worker jobs: {errors[0]}"
                        return None

                    logs = f"job logs: {options['log_directory']}/{job_name}-<job id>.err on the nodes"
                    waited = wait_for_a_worker(client, self.title, spec.timeout, problem,
                                               lambda: f"{self.describe(cluster, job_name)}; {logs}")
                    log.info("%s: first worker after %.1f s", self.title, waited)
                    yield client
        finally:
            try:
                if cluster is not None:
                    try:
                        cluster.close(timeout=60)
                    except Exception as err:  # noqa: BLE001 - the jobs are cancelled below all the same
                        log.debug("closing the %s cluster: %s: %s", self.title, type(err).__name__, err)
                cancel()
            finally:
                atexit.unregister(cancel)
                logging.getLogger("tornado.application").removeFilter(quiet)
