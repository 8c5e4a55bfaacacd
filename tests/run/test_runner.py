"""The runner's loop in seconds: planning, saving, retrying and resuming on an in-process Dask
cluster (threads), with a stand-in for the replicate notebook. The same loop on real processes and
kernels is in ``test_faults.py`` and ``test_clusters.py``."""

from collections import Counter
from pathlib import Path

import pytest
from dask.distributed import Client

from outcomes import outcome
from sbc_helpers.contract import replicate_path
from sbc_helpers.run import loop, store, tasks
from sbc_helpers.run.params import campaign_from

REPLICATES = 4


def _campaign(retries: int):
    return campaign_from({"name": "loop", "seed": 1, "replicates": REPLICATES, "retries": retries,
                          "design": {"maker": "normal_normal_design", "n_points": 3},
                          "models": [{"name": "m", "model": "normal_normal"}]})


@pytest.fixture(scope="module")
def client():
    with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as c:
        yield c


class Calls:
    """Calls of the stand-in by replicate, kept as files: Dask pickles the task's function."""

    def __init__(self, folder: Path):
        self.folder = folder

    def add(self, replicate: int) -> int:
        n = self.count()[replicate] + 1
        (self.folder / f"{replicate}-{n}").touch()
        return n

    def count(self) -> Counter:
        return Counter(int(p.name.split("-")[0]) for p in self.folder.iterdir())


@pytest.fixture
def notebook(monkeypatch, tmp_path):
    """A stand-in for ``execute_replicate``: replicate 1 fails on its first attempt."""
    (tmp_path / "calls").mkdir()
    calls = Calls(tmp_path / "calls")

    def execute(task):
        failing = calls.add(task.replicate) == 1 and task.replicate == 1
        return outcome(task.replicate, "failed" if failing else "ok")

    monkeypatch.setattr(loop, "execute_replicate", execute)
    return calls


def _run(client, campaign, folder) -> loop.RunResult:
    planned, skipped = tasks.plan(campaign, folder, cores=1)
    result = loop.RunResult(campaign_dir=folder, skipped=skipped)
    if planned:
        loop.ReplicateLoop(client, planned, campaign, folder, result, progress=False).go()
    return result


def test_a_failed_replicate_is_retried_and_its_record_says_so(client, notebook, tmp_path):
    result = _run(client, _campaign(retries=1), tmp_path / "out")
    assert (result.ran, result.recovered, result.failed) == (REPLICATES, 1, [])
    record = store.read_record(store.unit_dir(tmp_path / "out", "m"), 1)
    assert (record.status, record.attempts, record.earlier_errors) == ("ok", 2, "KeyError")
    assert notebook.count() == {0: 1, 1: 2, 2: 1, 3: 1}


def test_without_retries_a_failed_replicate_stays_failed(client, notebook, tmp_path):
    result = _run(client, _campaign(retries=0), tmp_path / "out")
    assert result.failed == [("m", 1)] and result.ran == REPLICATES - 1
    assert store.read_record(store.unit_dir(tmp_path / "out", "m"), 1).status == "failed"


def test_a_rerun_redoes_only_what_is_not_complete(client, notebook, tmp_path):
    campaign, out = _campaign(retries=0), tmp_path / "out"
    _run(client, campaign, out)  # replicate 1 fails
    unit = store.unit_dir(out, "m")
    written = {r: replicate_path(unit, r, "record").stat().st_mtime_ns for r in range(REPLICATES)}
    again = _run(client, campaign, out)
    assert (again.skipped, again.ran) == (REPLICATES - 1, 1)
    assert notebook.count() == {0: 1, 1: 2, 2: 1, 3: 1}  # only the failed one ran again
    for r in (0, 2, 3):
        assert replicate_path(unit, r, "record").stat().st_mtime_ns == written[r]
    assert tasks.plan(campaign, out, cores=1) == ([], REPLICATES)
