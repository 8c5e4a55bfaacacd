"""Store: the on-disk layout of a campaign, written only by the client, atomically.

outputs/<campaign>/<model>/replicates/<NNNN>.ipynb   the executed replicate notebook
outputs/<campaign>/<model>/replicates/<NNNN>.ranks.parquet, .draws.nc (kept draws, truth, data)
outputs/<campaign>/<model>/replicates/<NNNN>.json    the replicate's record, written last
outputs/<campaign>/<model>/ranks.parquet, replicates.parquet   gathered tables

Every file is written to a temporary name and renamed into place. Saving a replicate first removes
its old record, then writes the notebook, ranks and draws, then the new record: a kill at any moment
leaves either a whole replicate (a record saying ok, beside readable ranks and draws) or one that
``is_complete`` rejects and the next run redoes.
"""

import json
import os
import tempfile
from pathlib import Path

import pandas as pd

WIDTH = 4  # zero padding of replicate file names


def replicate_stem(replicate: int) -> str:
    return f"{replicate:0{max(WIDTH, len(str(replicate)))}d}"


def model_dir(campaign_dir: Path, model: str) -> Path:
    return Path(campaign_dir) / model


def replicate_paths(campaign_dir: Path, model: str, replicate: int) -> dict[str, Path]:
    base = model_dir(campaign_dir, model) / "replicates"
    stem = replicate_stem(replicate)
    return {
        "notebook": base / f"{stem}.ipynb",
        "ranks": base / f"{stem}.ranks.parquet",
        "draws": base / f"{stem}.draws.nc",
        "record": base / f"{stem}.json",
    }


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: all or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    

def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_parquet(index=False)


def save_replicate(campaign_dir: Path, model: str, outcome: dict) -> None:
    """Write one replicate's files; the record goes last so it marks a whole replicate.

    An earlier attempt's record is removed first, so old and new files never pass for a whole
    replicate; files the new outcome lacks (no notebook from a lost worker, no ranks from a failed
    fit) are removed rather than left over from an earlier attempt.
    """
    paths = replicate_paths(campaign_dir, model, outcome["record"]["replicate"])
    paths["record"].unlink(missing_ok=True)
    if outcome.get("notebook") is not None:
        atomic_write(paths["notebook"], outcome["notebook"].encode())
    else:
        paths["notebook"].unlink(missing_ok=True)
    if outcome["record"]["status"] == "ok":
        atomic_write(paths["ranks"], _parquet_bytes(outcome["ranks"]))
        atomic_write(paths["draws"], outcome["draws"])
    else:
        paths["ranks"].unlink(missing_ok=True)
        paths["draws"].unlink(missing_ok=True)
    atomic_write(paths["record"], json.dumps(outcome["record"], indent=1, default=_jsonable).encode())


def _jsonable(value):
    if hasattr(value, "item"):  # NumPy scalars
        return value.item()
    return str(value)


def read_record(campaign_dir: Path, model: str, replicate: int) -> dict | None:
    path = replicate_paths(campaign_dir, model, replicate)["record"]
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def is_complete(campaign_dir: Path, model: str, replicate: int) -> bool:
    """A replicate is done when its record says ok and its ranks and archive can be read.

    The checks are cheap: the Parquet footer (not the data) and the netCDF header and variable
    extents, so a truncated or garbled file is rejected and the replicate run again.
    """
    record = read_record(campaign_dir, model, replicate)
    if not record or record.get("status") != "ok":
        return False
    paths = replicate_paths(campaign_dir, model, replicate)
    return readable_parquet(paths["ranks"]) and readable_archive(paths["draws"])


def readable_parquet(path: Path) -> bool:
    """``path`` is a whole Parquet file: its footer metadata parses."""
    import pyarrow.parquet as pq

    try:
        pq.read_metadata(path)
    except Exception:  # missing, truncated, not Parquet
        return False
    return True


def readable_archive(path: Path) -> bool:
    """``path`` is a whole netCDF-3 archive (as ``archive_bytes`` writes): every variable's data is there."""
    from scipy.io import netcdf_file

    try:
        with open(path, "rb") as handle:
            if handle.read(4)[:3] != b"CDF":
                return False
            handle.seek(0)
            with netcdf_file(handle, "r", mmap=False) as archive:  # reads header and data: small files
                archive.variables.clear()
    except Exception:  # missing, truncated, not netCDF
        return False
    return True


def clean_partial_writes(campaign_dir: Path) -> int:
    """Remove temporary files a killed run left behind in replicate folders; how many were removed.

    Call with the campaign locked: only the runner writes replicate files.
    """
    removed = 0
    for path in Path(campaign_dir).glob("*/replicates/.*.tmp"):
        stem = path.name[1:].split(".", 1)[0]
        if stem.isdigit():
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def records(campaign_dir: Path, model: str) -> list[dict]:
    """Every replicate record of a model, in replicate order."""
    folder = model_dir(campaign_dir, model) / "replicates"
    out = []
    for path in sorted(folder.glob("*.json")):
        try:
            out.append(json.loads(path.read_text()))
        except json.JSONDecodeError:
            continue
    return sorted(out, key=lambda r: r["replicate"])


def gather(campaign_dir: Path, model: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Concatenate a model's replicate files into ranks.parquet and replicates.parquet."""
    recs = records(campaign_dir, model)
    table = pd.DataFrame(recs)
    frames = [
        pd.read_parquet(replicate_paths(campaign_dir, model, r["replicate"])["ranks"])
        for r in recs
        if r.get("status") == "ok" and is_complete(campaign_dir, model, r["replicate"])
    ]
    ranks = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["replicate", "quantity", "variable", "rank", "max_rank", "true_value", "post_mean", "post_sd"]
    )
    folder = model_dir(campaign_dir, model)
    atomic_write(folder / "ranks.parquet", _parquet_bytes(ranks))
    atomic_write(folder / "replicates.parquet", _parquet_bytes(table))
    return ranks, table


def campaign_models(campaign_dir: Path) -> list[str]:
    """Output folders of a campaign's (model, inference method) units, from its manifest."""
    from sbc_helpers.params import Campaign

    return [unit.name for unit in Campaign(**read_manifest(campaign_dir)).units()]


def write_manifest(campaign_dir: Path, campaign_dump: dict) -> None:
    atomic_write(Path(campaign_dir) / "campaign.json", json.dumps(campaign_dump, indent=1, default=str).encode())


def read_manifest(campaign_dir: Path) -> dict:
    manifest = Path(campaign_dir) / "campaign.json"
    if not manifest.is_file():
        raise FileNotFoundError(f"{campaign_dir} has no campaign.json: not a campaign output folder")
    return json.loads(manifest.read_text())
