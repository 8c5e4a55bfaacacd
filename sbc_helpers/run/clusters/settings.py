"""The Dask settings of every cluster sbc starts, written once.

- ``worker-saturation`` 1.0: the scheduler hands each single-threaded worker one replicate at a
  time and queues the rest itself, so a worker that dies takes down only the replicate it was
  running (Dask charges a lost worker to every task assigned to it);
- ``allowed-failures`` 0: a task whose worker dies fails at once and comes back to the runner as
  ``KilledWorker``; sbc's own retry resubmits it: one retry mechanism, every attempt recorded;
- the workers' statistical profiler off: it samples every thread every 10 ms, and a worker's only
  thread waits on its kernel.

A scheduler or worker in this process (local, jobqueue) takes them as Dask configuration
(``config()``); processes started elsewhere (jobs, pods) as environment variables (``environment()``).
"""

DASK = {
    "distributed.scheduler.worker-saturation": 1.0,
    "distributed.scheduler.allowed-failures": 0,
    "distributed.worker.profile.enabled": False,
}


def config() -> dict:
    """The settings for ``dask.config.set``."""
    return dict(DASK)


def environment() -> dict[str, str]:
    """The settings as Dask reads them from the environment (``DASK_DISTRIBUTED__SCHEDULER__...``)."""
    return {"DASK_" + key.upper().replace("-", "_").replace(".", "__"): str(value) for key, value in DASK.items()}
