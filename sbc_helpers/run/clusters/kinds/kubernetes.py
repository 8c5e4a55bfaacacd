"""``kubernetes``: worker pods through dask-kubernetes' operator (``KubeCluster`` on a
``DaskCluster`` resource built here); the resource is deleted when the run ends, and the operator
replaces pods that die in between. dask-kubernetes has no TLS setting: see the docs' security page.
"""

from __future__ import annotations

import logging
import uuid
from contextlib import contextmanager

from sbc_helpers.errors import ClusterUnavailable
from sbc_helpers.run.clusters import settings as dask_settings
from sbc_helpers.run.clusters.base import Kind, command_errors, job_counts, wait_for_a_worker

log = logging.getLogger("sbc")

KEYS = {"image", "namespace", "cores", "memory", "resources", "env"}
FROM_CONFIG = ("image", "namespace", "resources", "env")  # read from Dask's kubernetes.* too


def kubernetes_settings(settings: dict) -> dict:
    """Dask's ``kubernetes.*`` configuration (image, namespace, resources, env), ``settings`` over it."""
    import dask

    resolved = {key: dask.config.get(f"kubernetes.{key}", None) for key in FROM_CONFIG}
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
    env = {**dask_settings.environment(), "PYTENSOR_FLAGS": "base_compiledir=/tmp/sbc/pytensor",
           **(settings.get("env") or {})}
    resource = make_cluster_spec(name=name, image=image, n_workers=job_counts(spec)[0], resources=resources, env=env,
                                 worker_command=f"dask worker --nworkers {cores} --nthreads 1")
    # the console scripts of current distributed: `dask scheduler` (make_cluster_spec writes dask-scheduler)
    scheduler = resource["spec"]["scheduler"]["spec"]["containers"][0]
    scheduler["args"] = ["dask", "scheduler", *scheduler["args"][1:]]
    return resource


class Kubernetes(Kind):
    name, title, order = "kubernetes", "Kubernetes", 5

    def check(self, settings: dict) -> None:
        for key in settings:
            if str(key).replace("_", "-") not in KEYS:
                raise ValueError(f"settings.{key}: not a {self.title} setting (known: {', '.join(sorted(KEYS))})")

    @contextmanager
    def client(self, spec, workers: int | None):
        """A client on a ``KubeCluster`` built from ``kubernetes_spec``, a worker pod started."""
        from dask.distributed import Client

        from sbc_helpers.run.clusters.signals import exit_on_signals

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
                    raise ClusterUnavailable(f"cannot start the Kubernetes cluster: {command_errors(str(err))}") from None
                if spec.adapt:
                    cluster.adapt(minimum=low, maximum=high)
                with Client(cluster) as client:
                    log.info("Kubernetes: cluster %s; waiting up to %g s for a worker pod", name, spec.timeout)
                    waited = wait_for_a_worker(client, self.title, spec.timeout, lambda: None,
                                               lambda: f"the pods of {name}: kubectl get pods -l "
                                                       f"dask.org/cluster-name={name}")
                    log.info("Kubernetes: first worker after %.1f s", waited)
                    yield client
            finally:
                if cluster is not None:
                    try:
                        cluster.close()
                    except Exception as err:  # noqa: BLE001
                        log.warning("deleting the Kubernetes cluster %s: %s", name, err)


KINDS = [Kubernetes()]
