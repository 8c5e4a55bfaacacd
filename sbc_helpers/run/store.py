"""Store: a campaign's files on disk, written only by the client, atomically.

Layout (names from ``contract``)::

    <campaign>/campaign.json                     the campaign as run (the manifest)
    <campaign>/<unit>/replicates/0007.ipynb      the executed replicate notebook
    <campaign>/<unit>/replicates/0007.ranks.parquet, 0007.draws.nc (kept draws, truth, data)
    <campaign>/<unit>/replicates/0007.json       the replicate's record, written last
    <campaign>/<unit>/ranks.parquet, replicates.parquet   gathered tables

Every file is written to a temporary name and renamed into place. Saving a replicate first removes
its old record, then writes the new files, then the new record: a kill at any moment leaves either
a whole replicate or one that ``state`` calls missing and the next run redoes. A failed attempt
leaves an earlier attempt's ranks and archive where they are: only a success replaces them.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from pydantic import ValidationError

from sbc_helpers.contract import (CAMPAIGN_FILES, RANKS_COLUMNS, REPLICATE_COLUMNS, REPLICATES_DIR, UNIT_FILES,
                                  Outcome, Record, replicate_path, stem_replicate)
from sbc_helpers.errors import StoreError

log = logging.getLogger("sbc")


def unit_dir(campaign_dir: Path | str, unit: str) -> Path:
    return Path(campaign_dir) / unit


def temporary_file(path: Path) -> tuple[int, str]:
    """A new file beside ``path`` to write and rename into place, open for writing: its descriptor
    and name (``.<name>.<random>.tmp``, which ``clean_partial_writes`` removes). Its mode is 0666
    less the umask, as for any file the user writes (``mkstemp`` would give 0600 whatever the umask)."""
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
    return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), str(tmp)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: all or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temporary_file(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_replicate(folder: Path, outcome: Outcome) -> None:
    """Write one replicate's files into the unit ``folder``; the record goes last.

    The old record is removed first, so old and new files never pass for a whole replicate. A
    success writes its ranks and archive; a failure writes its notebook (what it ran, as far as it
    got) and record, and leaves an earlier attempt's ranks and archive in place.
    """
    replicate = outcome.record.replicate
    path = lambda kind: replicate_path(folder, replicate, kind)  # noqa: E731
    path("record").unlink(missing_ok=True)
    if outcome.notebook is not None:
        atomic_write(path("notebook"), outcome.notebook.encode())
    if outcome.record.status == "ok":
        atomic_write(path("ranks"), outcome.ranks.to_parquet(index=False))
        atomic_write(path("draws"), outcome.draws)
    atomic_write(path("record"), outcome.record.to_json().encode())


def _read(path: Path) -> bytes | None:
    """A file's bytes; None when it does not exist. Any other failure to read it is a ``StoreError``:
    the file may be fine, so nothing is redone or deleted on its account."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise StoreError(f"cannot read {path}: {err.strerror or err}") from None


def read_record(folder: Path, replicate: int) -> Record | None:
    """A replicate's record; None when it is missing or corrupt (not JSON, or not a valid record)."""
    raw = _read(replicate_path(folder, replicate, "record"))
    if raw is None:
        return None
    try:
        return Record.from_json(raw)
    except ValidationError:
        return None


def state(folder: Path, replicate: int) -> str:
    """``complete`` (a record saying ok beside whole ranks and archive), ``failed``, ``not_run`` or
    ``missing`` (never run, cut short, or corrupt: run it again).

    The checks are cheap: the Parquet footer and the netCDF header and variable extents, so a
    truncated or garbled file is caught. A file that cannot be read now raises ``StoreError``.
    """
    record = read_record(folder, replicate)
    if record is None:
        return "missing"
    if record.status != "ok":
        return record.status
    ranks = _read(replicate_path(folder, replicate, "ranks"))
    draws = _read(replicate_path(folder, replicate, "draws"))
    return "complete" if readable_parquet(ranks) and readable_archive(draws) else "missing"


def readable_parquet(data: bytes | None) -> bool:
    """``data`` is a whole Parquet file: its footer metadata parses."""
    import io

    import pyarrow.parquet as pq

    if not data:
        return False
    try:
        pq.read_metadata(io.BytesIO(data))
    except Exception:  # noqa: BLE001 - truncated, not Parquet
        return False
    return True


def readable_archive(data: bytes | None) -> bool:
    """``data`` is a whole netCDF-3 archive: every variable's data is there."""
    import io

    from scipy.io import netcdf_file

    if not data or data[:3] != b"CDF":
        return False
    try:
        with netcdf_file(io.BytesIO(data), "r", mmap=False) as archive:
            archive.variables.clear()
    except Exception:  # noqa: BLE001 - truncated, not netCDF
        return False
    return True


def clean_partial_writes(campaign_dir: Path) -> int:
    """Remove temporary files a killed run left in replicate folders; how many were removed.

    Call with the campaign locked: only the runner writes replicate files.
    """
    removed = 0
    for path in Path(campaign_dir).glob(f"*/{REPLICATES_DIR}/.*.tmp"):
        if stem_replicate(path.name[1:]) is not None:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


@dataclass
class Gathered:
    """A unit's replicates as tables, and what on disk was left out of them."""

    ranks: pd.DataFrame
    replicates: pd.DataFrame
    corrupt: list[int] = field(default_factory=list)  # records or ranks that exist but cannot be parsed
    extra: list[int] = field(default_factory=list)  # replicates on disk beyond the campaign's count
    failed_truths: pd.DataFrame | None = None  # replicate, quantity, true_value of failed replicates


def gather(folder: Path, replicates: int) -> Gathered:
    """Replicates 0..``replicates``-1 of one unit as tables (ranks of the complete ones; one row per
    record). Corrupt files and replicates beyond the count are reported, never silently used."""
    rows, frames, corrupt, truths = [], [], [], []
    for r in range(replicates):
        record = read_record(folder, r)
        if record is None:
            if replicate_path(folder, r, "record").exists():
                corrupt.append(r)
            continue
        if record.status == "ok":
            raw = _read(replicate_path(folder, r, "ranks"))
            if not readable_parquet(raw):
                corrupt.append(r)
                continue
            frames.append(pd.read_parquet(replicate_path(folder, r, "ranks")))
        truths += [(r, q, v) for q, v in record.truth.items()] if record.status == "failed" else []
        rows.append(record.row())
    on_disk = {stem_replicate(p.name) for p in (folder / REPLICATES_DIR).glob("*.json")} if folder.is_dir() else set()
    extra = sorted(r for r in on_disk if r is not None and r >= replicates)
    ranks = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=RANKS_COLUMNS)
    table = pd.DataFrame(rows, columns=[c for c in REPLICATE_COLUMNS if c != "flags"])
    failed_truths = pd.DataFrame(truths, columns=["replicate", "quantity", "true_value"])
    return Gathered(ranks=ranks, replicates=table, corrupt=corrupt, extra=extra, failed_truths=failed_truths)


def warn_unused(unit: str, gathered: Gathered, replicates: int) -> None:
    """One warning each for corrupt replicates and replicates beyond the campaign's count."""
    if gathered.corrupt:
        listed = ", ".join(map(str, gathered.corrupt[:10])) + (" ..." if len(gathered.corrupt) > 10 else "")
        log.warning("%s: %d replicate file(s) are corrupt and were left out (replicates %s); "
                    "'sbc run' redoes them", unit, len(gathered.corrupt), listed)
    if gathered.extra:
        log.warning("%s: %d replicate(s) on disk beyond the campaign's %d were left out (raise 'replicates' "
                    "to include them)", unit, len(gathered.extra), replicates)


def write_tables(folder: Path, ranks: pd.DataFrame, replicates: pd.DataFrame) -> None:
    atomic_write(folder / UNIT_FILES["ranks"], ranks.to_parquet(index=False))
    atomic_write(folder / UNIT_FILES["replicates"], replicates.to_parquet(index=False))


PROVENANCE = "provenance"  # the manifest's key for what the run ran on (``run.provenance``), not a setting


def write_manifest(campaign_dir: Path, campaign_dump: dict, provenance: dict | None = None) -> None:
    """Write the campaign's settings as run, and under ``provenance`` what they ran on."""
    manifest = {**campaign_dump, PROVENANCE: provenance} if provenance is not None else campaign_dump
    atomic_write(Path(campaign_dir) / CAMPAIGN_FILES["manifest"], json.dumps(manifest, indent=1, default=str).encode())


def _manifest(campaign_dir: Path) -> dict:
    manifest = Path(campaign_dir) / CAMPAIGN_FILES["manifest"]
    if not manifest.is_file():
        raise StoreError(f"{campaign_dir} has no {CAMPAIGN_FILES['manifest']}: not a campaign output folder")
    try:
        return json.loads(manifest.read_text())
    except json.JSONDecodeError as err:
        raise StoreError(f"{manifest} is corrupt: {err}") from None


def read_manifest(campaign_dir: Path) -> dict:
    """The campaign's settings as run (without the provenance: ``campaign_from`` reads them)."""
    manifest = _manifest(campaign_dir)
    manifest.pop(PROVENANCE, None)
    return manifest


def read_provenance(campaign_dir: Path) -> dict | None:
    """What the campaign's last run ran on; None for a campaign run before provenance was recorded."""
    return _manifest(campaign_dir).get(PROVENANCE)


def has_finished(folder: Path) -> bool:
    """Whether a unit folder holds a replicate that succeeded (failed ones are run again anyway)."""
    records = (Path(folder) / REPLICATES_DIR).glob("*.json") if (Path(folder) / REPLICATES_DIR).is_dir() else ()
    for path in records:
        replicate = stem_replicate(path.name)
        record = read_record(folder, replicate) if replicate is not None else None
        if record is not None and record.status == "ok":
            return True
    return False


def read_identity(folder: Path) -> dict | None:
    """What a unit's replicates were made from (``claims.identity``), None when not recorded."""
    path = Path(folder) / UNIT_FILES["identity"]
    return json.loads(path.read_text()) if path.is_file() else None


def write_identity(folder: Path, identity: dict) -> None:
    atomic_write(Path(folder) / UNIT_FILES["identity"], json.dumps(identity, indent=1, sort_keys=True).encode())


def clear_campaign(campaign_dir: Path) -> None:
    """Remove a campaign's results (units, references, pages), keeping its lock and its log."""
    keep = {CAMPAIGN_FILES["lock"], CAMPAIGN_FILES["log"]}
    for entry in Path(campaign_dir).iterdir() if Path(campaign_dir).is_dir() else ():
        if entry.name in keep:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
