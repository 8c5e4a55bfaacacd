"""Clusters: the Dask client a campaign runs on.

- a kind of cluster sbc starts and stops (``kinds``: local, the default; slurm, pbs, sge, lsf
  through dask-jobqueue; kubernetes through dask-kubernetes' operator), from the params' ``cluster``
  section (``run.params.Cluster``);
- or an existing scheduler, given by address (``--scheduler``, ``existing``).

Every cluster sbc starts takes the same Dask settings (``settings``: one replicate per worker at a
time, ``allowed-failures`` 0, no profiler) and speaks TLS with certificates made for the run
(``security``), except on Kubernetes (see the docs' security page).
"""

from contextlib import contextmanager

from sbc_helpers.run.clusters.kinds import KINDS


@contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None, cluster=None):
    """A Dask client for a campaign: on an existing scheduler, on the cluster the params' ``cluster``
    section asks for (``cluster``), or on a local cluster of ``workers`` single-threaded processes."""
    if scheduler:
        from sbc_helpers.run.clusters.existing import existing_client

        with existing_client(scheduler) as client:
            yield client
        return
    with KINDS[getattr(cluster, "kind", "local")].client(cluster, workers) as client:
        yield client
