"""The registry of cluster kinds and the Dask settings every kind applies."""

import subprocess
import sys
from contextlib import contextmanager

import pytest
from pydantic import ValidationError


def test_a_kind_registered_once_reaches_the_command_line_the_params_and_dask_client(monkeypatch):
    """One entry in ``KINDS``: ``--cluster`` takes it, ``cluster.kind`` validates it and its
    settings, the messages list it, and ``dask_client`` starts and stops it."""
    from sbc_helpers import cli
    from sbc_helpers.run.clusters import KINDS, dask_client
    from sbc_helpers.run.clusters.base import Kind
    from sbc_helpers.run.params import Cluster

    events = []

    class Toy(Kind):
        name, title, order = "toy", "Toy", 9

        def check(self, settings):
            if "colour" in settings:
                raise ValueError("settings.colour: not a Toy setting")

        @contextmanager
        def client(self, spec, workers):
            events.append(("start", spec.jobs))
            yield "toy client"
            events.append("stop")

    monkeypatch.setitem(KINDS, "toy", Toy())
    assert cli.command_parser().parse_args(["run", "p.yaml", "--cluster", "toy"]).cluster == "toy"
    assert Cluster(kind="toy", jobs=2, settings={"size": 1}).settings == {"size": 1}
    with pytest.raises(ValidationError, match="not a Toy setting"):
        Cluster(kind="toy", settings={"colour": "red"})
    with pytest.raises(ValidationError, match=r"\(kind: slurm, pbs, sge, lsf, kubernetes, toy\)"):
        Cluster(kind="local", jobs=2)
    with dask_client(cluster=Cluster(kind="toy", jobs=3)) as client:
        assert client == "toy client"
    assert events == [("start", 3), "stop"]

    monkeypatch.undo()
    with pytest.raises(ValidationError, match="unknown cluster kind 'toy'; choose one of local, slurm, pbs, sge, lsf, "
                                              "kubernetes"):
        Cluster(kind="toy")
    with pytest.raises(SystemExit):
        cli.command_parser().parse_args(["run", "p.yaml", "--cluster", "toy"])


def test_the_command_line_reads_the_kinds_without_importing_dask():
    code = "import sys, sbc_helpers.cli; print(sorted(m for m in ('dask', 'distributed') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_dask_reads_the_jobs_environment_as_the_settings_sbc_sets_in_process():
    import dask

    from sbc_helpers.run.clusters import settings

    collected = dask.config.collect_env(settings.environment())
    for key, value in settings.config().items():
        assert dask.config.get(key, config=collected) == value, key


def test_the_local_scheduler_leaves_retries_to_sbc_without_any_environment_setting(monkeypatch):
    """allowed-failures 0 (Dask's default is 3): a replicate whose worker dies comes back to sbc's
    retry at once; one replicate per worker at a time; no profiler in the workers."""
    import dask
    import distributed  # noqa: F401 - registers Dask's distributed defaults

    from sbc_helpers.run.clusters import dask_client

    for name in ("DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES", "DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION"):
        monkeypatch.delenv(name, raising=False)
    assert dask.config.get("distributed.scheduler.allowed-failures") == 3
    with dask_client(1) as client:
        scheduler = client.run_on_scheduler(lambda dask_scheduler: (dask_scheduler.allowed_failures,
                                                                    dask_scheduler.WORKER_SATURATION))
        workers = client.run(lambda: dask.config.get("distributed.worker.profile.enabled"))
    assert scheduler == (0, 1.0)
    assert list(workers.values()) == [False]
