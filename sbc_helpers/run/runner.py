"""Runner: fan a campaign's missing replicates out on Dask, save each one as it arrives.

Only this process writes under the output folder, and user files (``file.py:function`` references,
CSV/Parquet designs) travel with each task, so workers need no shared filesystem.

A replicate that fails (an exception in a cell, a dead kernel, a timeout, a kernel that does not
start, a lost worker) is recorded and submitted again, up to ``retries`` more times; the rest of the
campaign goes on. Each retry runs on a new kernel: a worker discards its kernel after any failure.
A unit whose first ``stop_after_failures`` replicates all fail with the same error, before any
succeeds, is stopped: its other replicates are recorded as not run, and a rerun after the fix
resumes it. In a sequential campaign a unit also stops once its verdict is sure
(``run/sequential.py``): its queued replicates are cancelled, those running finish and are kept.

Each step is a named function of its own module: the folder's lock and claims (``claims``), the
tasks and the user files they ship (``tasks``), the loop that submits, saves, retries and stops
units (``loop``, ``progress``), and the sequential monitors (``run/sequential.py``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sbc_helpers.run.claims import prepare
from sbc_helpers.run.loop import ReplicateLoop, RunResult
from sbc_helpers.run.params import Campaign
from sbc_helpers.run.tasks import cores_per_replicate, plan

log = logging.getLogger("sbc")


def campaign_dir(campaign: Campaign, output_dir: Path | str) -> Path:
    return Path(output_dir) / campaign.name


def run(campaign: Campaign, output_dir: Path | str, workers: int | None = None, scheduler: str | None = None,
        progress: bool = True, descriptions: dict[str, str] | None = None, restart: bool = False) -> RunResult:
    """Run every missing replicate of ``campaign`` (checked by the preflight first); call it with
    the campaign's folder locked (``claims.lock``). ``restart``: discard the folder's results first."""
    from sbc_helpers.run import posterior
    from sbc_helpers.run.clusters import dask_client
    from sbc_helpers.run.sequential import unit_monitors
    from sbc_helpers.setup import configure

    configure()  # before the reference posterior's fit
    folder = campaign_dir(campaign, output_dir)
    workers = workers or os.cpu_count() or 1
    prepare(campaign, folder, restart, descriptions)
    cores = cores_per_replicate(campaign, workers, scheduler)
    monitors = unit_monitors(campaign, folder)
    decided = {unit: m.decision.line(campaign.replicates) for unit, m in monitors.items() if m.decision.reason}
    references = posterior.prepare(campaign, folder)
    tasks, skipped = plan(campaign, folder, cores, set(decided), references)
    result = RunResult(campaign_dir=folder, skipped=skipped, decided=decided)
    for unit, line in decided.items():
        log.info("%s: already %s", unit, line)
    log.info("%s: %d replicates to run, %d already done", campaign.name, len(tasks), skipped)
    if tasks:
        with dask_client(workers, scheduler, campaign.cluster) as client:
            ReplicateLoop(client, tasks, campaign, folder, result, progress, monitors).go()
    return result
