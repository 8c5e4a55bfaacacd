"""TLS for the clusters sbc starts: certificates made for each run (``Security.temporary()``), so
whoever lacks them cannot connect, so cannot run code as the campaign's user."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sbc_helpers.errors import ClusterUnavailable


def run_security():
    """Fresh TLS certificates for one run, in memory; one line if ``cryptography`` is missing."""
    from distributed.security import Security

    try:
        return Security.temporary()
    except ImportError as err:
        raise ClusterUnavailable(f"TLS for the cluster needs the 'cryptography' package: {err}") from None


def certificate_folder(shared: str | None) -> Path:
    """A new folder only the owner can enter (0700), for the certificates batch jobs read: in
    ``shared`` (jobqueue's ``shared-temp-directory``) or else the home folder, which the nodes share."""
    base = Path(os.path.expandvars(shared or "~")).expanduser()
    try:
        return Path(tempfile.mkdtemp(prefix=".sbc-tls-", dir=base))
    except OSError as err:
        raise ClusterUnavailable(f"cannot write the cluster's TLS certificates in {base}: {err.strerror} "
                                 "(set jobqueue.<kind>.shared-temp-directory to a folder the nodes share)") from None
