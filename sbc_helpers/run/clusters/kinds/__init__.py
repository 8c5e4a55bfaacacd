"""The kinds of cluster, one module each; every module here that defines ``KINDS`` adds its kinds.

Adding a kind is one file: the command line's ``--cluster`` choices, the params' ``cluster.kind``
validation and the messages that list kinds all read ``KINDS``. The modules import Dask only when a
cluster starts: the command line reads this registry.
"""

import importlib
import pkgutil

from sbc_helpers.run.clusters.base import Kind


def _discover() -> dict[str, Kind]:
    found: dict[str, Kind] = {}
    for info in pkgutil.iter_modules(__path__):
        for kind in getattr(importlib.import_module(f"{__name__}.{info.name}"), "KINDS", []):
            found[kind.name] = kind
    return dict(sorted(found.items(), key=lambda item: (item[1].order, item[0])))


KINDS: dict[str, Kind] = _discover()


def scaled_kinds() -> str:
    """The kinds that take jobs, adapt and settings, for messages: ``slurm, pbs, ...``."""
    return ", ".join(name for name, kind in KINDS.items() if kind.scaled)
