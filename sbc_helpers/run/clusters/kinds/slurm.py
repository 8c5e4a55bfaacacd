"""``slurm``: batch jobs through dask-jobqueue's ``SLURMCluster``, with what SLURM's commands add.

SLURM is asked whether it would take the job script (``sbatch --test-only``) before anything is
queued; the jobs are cancelled by the run's name (``scancel --name``), whatever the cluster object
knows, and sbc waits until they have left the queue; a start-up timeout lists their states and
reasons (``squeue``).
"""

from __future__ import annotations

import getpass
import logging
import os
import subprocess
import tempfile
import time

from sbc_helpers.errors import ClusterUnavailable
from sbc_helpers.run.clusters.base import command_errors
from sbc_helpers.run.clusters.jobqueue import Jobqueue, run_command

log = logging.getLogger("sbc")


def sbatch_test(script: str) -> None:
    """Ask SLURM whether it would take the worker job script, without queueing it: a partition,
    account, memory or time limit it refuses becomes one line before anything is submitted."""
    with tempfile.NamedTemporaryFile("w", suffix=".sh", prefix="sbc-job-", delete=False) as handle:
        handle.write(script)
    try:
        done = run_command(["sbatch", "--test-only", handle.name])
    except FileNotFoundError:
        raise ClusterUnavailable("sbatch not found: run on a SLURM login node (or set PATH and SLURM_CONF)") from None
    finally:
        os.unlink(handle.name)
    if done.returncode != 0:
        raise ClusterUnavailable(f"SLURM refuses the worker job: {command_errors(done.stderr or done.stdout)}")


def squeue(job_name: str) -> list[tuple[str, str, str]]:
    """(job id, state, reason) of the run's jobs still in SLURM's queue."""
    try:
        done = run_command(["squeue", "-h", "--name", job_name, "-o", "%i|%T|%r"])
    except (OSError, subprocess.SubprocessError):
        return []
    return [tuple(line.split("|", 2)) for line in done.stdout.splitlines() if line.count("|") == 2]


def cancel_jobs(job_name: str, wait: float = 15) -> list[str]:
    """Cancel every job of the run by name and wait (up to ``wait`` seconds) until none is left in
    the queue. Returns those still listed then."""
    try:
        run_command(["scancel", "--name", job_name, "--user", getpass.getuser()], timeout=30)
    except (OSError, subprocess.SubprocessError, KeyError) as err:
        log.warning("cancelling the SLURM jobs %s: %s", job_name, err)
        return []
    deadline = time.monotonic() + wait
    while (left := squeue(job_name)) and time.monotonic() < deadline:
        time.sleep(0.25)
    return [f"{job} ({state.lower()})" for job, state, _ in left]


class Slurm(Jobqueue):
    def check_script(self, script: str) -> None:
        sbatch_test(script)

    def cancel(self, cluster, job_name: str) -> None:
        if left := cancel_jobs(job_name):
            log.warning("SLURM jobs still listed 15 s after cancelling them: %s", ", ".join(left))

    def describe(self, cluster, job_name: str) -> str:
        listed = ", ".join(f"job {job} {state.lower()} ({reason})" for job, state, reason in squeue(job_name))
        return listed or "no job in the queue"


KINDS = [Slurm("slurm", "SLURM", "SLURMCluster", order=1)]
