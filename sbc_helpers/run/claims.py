"""The campaign folder's claims: the lock that keeps a second run out, and each unit's identity
(what its replicates are made from), which keeps a resumed run from mixing replicates made from
other settings; and the folder made ready for a run."""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sbc_helpers.contract import CAMPAIGN_FILES, UNIT_FILES
from sbc_helpers.errors import CampaignLocked, ResumeRefused
from sbc_helpers.run import provenance, store
from sbc_helpers.run.params import Campaign, Unit, dump
from sbc_helpers.run.tasks import SHIPPED, unit_parameters

log = logging.getLogger("sbc")


@contextmanager
def lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` for the run; refuse if another run holds it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CAMPAIGN_FILES["lock"]
    handle = open(path, "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise CampaignLocked(f"{folder} is in use by another 'sbc run' (lock file {path})") from None
    try:
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


NOT_REPLICATE = ("cores", "make_plots", "keep_draws")
"""Template parameters that change how a replicate runs or what it keeps, not its draws or ranks."""
RERANK = ("rank_draws", "quantities", "derived", "log_likelihood")
"""What ``sbc report --recompute`` may change: the ranking of the kept draws, not the fits."""


def identity(campaign: Campaign, unit: Unit) -> dict:
    """What a unit's replicates are made from: the seed and every template parameter that changes
    their draws (user files by their content's hash, in the shipped paths)."""
    parameters = unit_parameters(campaign, unit, 1, {})
    made_from = {k: v for k, v in parameters.items() if k not in NOT_REPLICATE}
    return json.loads(json.dumps({"seed": campaign.seed, **made_from}, default=str))


def _changes(before: dict, after: dict, path: str = "") -> list[str]:
    """What differs between two identities, named for the user ("model: dose.py changed")."""
    changes = []
    for key in sorted(set(before) | set(after)):
        a, b, name = before.get(key), after.get(key), f"{path}.{key}" if path else key
        if isinstance(a, dict) and isinstance(b, dict):
            changes += _changes(a, b, name)
        elif a != b:
            shipped = [v.split("/")[2].split(":")[0] for v in (a, b)
                       if isinstance(v, str) and v.startswith(SHIPPED + "/")]
            changes.append(f"{name}: {shipped[-1]} changed" if len(shipped) == 2 and len(set(shipped)) == 1
                           else f"{name}: {a!r} -> {b!r}")
    return changes


def claim_units(campaign: Campaign, folder: Path) -> None:
    """Refuse to resume a unit whose finished replicates were made from other settings; record each
    unit's identity. Workers, cluster, replicates and report settings may change, and a unit whose
    replicates all failed may be fixed (they all run again)."""
    identities = {unit.name: identity(campaign, unit) for unit in campaign.units()}
    for name, made_from in identities.items():
        before = store.read_identity(store.unit_dir(folder, name))
        if before is not None and before != made_from and store.has_finished(store.unit_dir(folder, name)):
            changes = _changes(before, made_from)
            raise ResumeRefused(f"{name}: {folder} holds replicates made from other settings "
                                f"({'; '.join(changes[:3])}{'; ...' if len(changes) > 3 else ''}): "
                                "resuming would mix them; use --restart to discard them, or another --output-dir")
    for name, made_from in identities.items():
        store.write_identity(store.unit_dir(folder, name), made_from)


def prepare(campaign: Campaign, folder: Path, restart: bool = False, descriptions: dict[str, str] | None = None) -> None:
    """Make ``folder`` ready for a run: discard its results first on ``restart``, claim each unit
    (``claim_units``), write the manifest and each unit's model description, and remove the files
    an interrupted run left half-written."""
    if restart:
        store.clear_campaign(folder)
    claim_units(campaign, folder)
    store.write_manifest(folder, dump(campaign), provenance.collect(campaign))
    for unit, text in (descriptions or {}).items():
        store.atomic_write(store.unit_dir(folder, unit) / UNIT_FILES["model"], text.encode())
    if store.clean_partial_writes(folder):
        log.info("%s: removed temporary files an interrupted run left", campaign.name)
