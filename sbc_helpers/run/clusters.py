"""Clusters: the Dask client a campaign runs on. A local cluster by default, or an existing
scheduler given by address."""

import logging
from contextlib import contextmanager

from distributed.diagnostics.plugin import WorkerPlugin

from sbc_helpers.errors import ClusterUnavailable

log = logging.getLogger("sbc")


@contextmanager
def dask_client(workers: int | None, scheduler: str | None):
    """A client on an existing scheduler, or on a local cluster of single-threaded processes."""
    import dask
    from dask.distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="30s")
        except (OSError, TimeoutError, ValueError) as err:
            raise ClusterUnavailable(f"cannot reach the Dask scheduler at {scheduler}: {err}") from None
        with client:
            workers = len(client.scheduler_info().get("workers", {}))
            log.info("scheduler %s: %d workers%s", scheduler, workers, "" if workers else "; waiting for some to join")
            yield client
        return
    # worker-saturation 1.0: the scheduler hands each single-threaded worker one replicate at a time
    # and queues the rest itself, so a worker that dies takes down only the replicate it was running
    # (Dask charges a lost worker to every task assigned to it). No dashboard; the scheduler's HTTP
    # endpoints on any free port. The workers' statistical profiler is off: it samples every thread
    # every 10 ms, and a worker's only thread here waits on its kernel.
    with dask.config.set({"distributed.scheduler.worker-saturation": 1.0,
                          "distributed.worker.profile.enabled": False}):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None, scheduler_kwargs={"dashboard_address": ":0"},
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
