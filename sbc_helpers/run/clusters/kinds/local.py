"""``local`` (the default): single-threaded worker processes on this machine, one per core.

TLS with the run's certificates, kept in memory; the scheduler, workers, nannies and their HTTP
endpoints (the dashboard among them, where bokeh is installed) listen on 127.0.0.1 only.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager

from sbc_helpers.run.clusters.base import Kind


class Local(Kind):
    name, title, order, scaled = "local", "local", 0, False

    @contextmanager
    def client(self, spec, workers: int | None):
        import dask
        from dask.distributed import Client, LocalCluster

        from sbc_helpers.run.clusters import settings
        from sbc_helpers.run.clusters.security import run_security
        from sbc_helpers.run.clusters.signals import IgnoreInterrupt

        security = run_security()
        with dask.config.set(settings.config()):
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                   protocol="tls://", security=security, dashboard_address=None,
                                   scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                   silence_logs=logging.ERROR)
        with cluster:
            with Client(cluster) as client:
                client.register_plugin(IgnoreInterrupt())
                yield client


KINDS = [Local()]
