"""A scheduler someone else started, given by address (``sbc run --scheduler``)."""

from __future__ import annotations

import logging
from contextlib import contextmanager

from sbc_helpers.errors import ClusterUnavailable

log = logging.getLogger("sbc")


@contextmanager
def existing_client(scheduler: str):
    """A client on ``scheduler``, with the user's own Dask security settings (``distributed.comm.tls.*``)."""
    from dask.distributed import Client
    from distributed.security import Security

    security = Security()
    if not scheduler.startswith("tls://"):
        log.info("scheduler %s: connecting without TLS (anyone who reaches it can run code as you; "
                 "see docs/guide/security.md)", scheduler)
    try:
        client = Client(scheduler, timeout="30s", security=security)
    except (OSError, TimeoutError, ValueError) as err:
        raise ClusterUnavailable(f"cannot reach the Dask scheduler at {scheduler}: {err}") from None
    with client:
        workers = len(client.scheduler_info().get("workers", {}))
        log.info("scheduler %s: %d workers%s", scheduler, workers, "" if workers else "; waiting for some to join")
        yield client
