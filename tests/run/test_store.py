"""The store: atomic writes, whole-or-missing replicates, trustworthy reads, honest gathering."""

import errno
import logging
import os
import stat
from pathlib import Path

import pandas as pd
import pytest
import xarray as xr

from outcomes import archive_for, outcome, ranks_for

from sbc_helpers.contract import RANKS_COLUMNS, REPLICATE_COLUMNS, read_archive, replicate_path
from sbc_helpers.errors import StoreError
from sbc_helpers.run import store


@pytest.fixture
def unit(tmp_path) -> Path:
    return tmp_path / "noncentered"


def test_atomic_write_creates_folders_replaces_content_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "deep" / "folder" / "file.txt"
    store.atomic_write(path, b"first")
    store.atomic_write(path, b"second, longer content")
    assert path.read_bytes() == b"second, longer content"
    assert [p.name for p in path.parent.iterdir()] == ["file.txt"]


def test_atomic_write_failure_keeps_old_content_and_cleans_up(tmp_path):
    path = tmp_path / "file.txt"
    store.atomic_write(path, b"old")
    with pytest.raises(TypeError):
        store.atomic_write(path, "not bytes")  # fails while writing the temporary file
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_files_honour_the_umask(unit, umask, mode):
    # a report on a shared folder or behind a web server must be readable by others when the umask says so
    previous = os.umask(umask)
    try:
        store.save_replicate(unit, outcome(0))
        store.write_tables(unit, ranks_for(0), pd.DataFrame({"replicate": [0]}))
        store.atomic_write(unit / "summary.html", b"<p>")
    finally:
        os.umask(previous)
    files = [p for p in unit.rglob("*") if p.is_file()]
    assert len(files) >= 6 and {p.name: stat.S_IMODE(p.stat().st_mode) for p in files} == {p.name: mode for p in files}


def test_save_replicate_then_complete(unit):
    assert store.state(unit, 0) == "missing"
    store.save_replicate(unit, outcome(0))
    assert store.state(unit, 0) == "complete"
    assert store.read_record(unit, 0).seed == 100
    pd.testing.assert_frame_equal(pd.read_parquet(replicate_path(unit, 0, "ranks")), ranks_for(0))
    xr.testing.assert_identical(read_archive(replicate_path(unit, 0, "draws")), archive_for(0))
    assert not list((unit / "replicates").glob("*.tmp"))


def test_a_failed_replicate_is_failed_and_a_missing_file_makes_a_replicate_missing(unit):
    store.save_replicate(unit, outcome(1, status="failed"))
    assert store.state(unit, 1) == "failed"
    for kind in ("ranks", "draws"):
        store.save_replicate(unit, outcome(2))
        replicate_path(unit, 2, kind).unlink()
        assert store.state(unit, 2) == "missing"


@pytest.mark.parametrize("kind, garbage", [("record", b'{"replicate": 4, "sta'), ("record", b'{"replicate": 4}'),
                                           ("ranks", b"PAR1 truncated"), ("draws", b"CDF\x01 truncated")])
def test_a_corrupt_file_makes_a_replicate_missing(unit, kind, garbage):
    store.save_replicate(unit, outcome(4))
    replicate_path(unit, 4, kind).write_bytes(garbage)
    assert store.state(unit, 4) == "missing"


def test_a_file_that_cannot_be_read_now_is_an_error_not_a_missing_replicate(unit, monkeypatch):
    store.save_replicate(unit, outcome(5))
    real = Path.read_bytes

    def flaky(path):
        if path.name.endswith(".draws.nc"):
            raise OSError(errno.EIO, "Input/output error")
        return real(path)

    monkeypatch.setattr(Path, "read_bytes", flaky)
    with pytest.raises(StoreError, match="cannot read .*0005.draws.nc: Input/output error"):
        store.state(unit, 5)


def test_a_failed_rerun_keeps_the_earlier_ranks_and_archive(unit):
    store.save_replicate(unit, outcome(6))
    ranks, draws = (replicate_path(unit, 6, k).read_bytes() for k in ("ranks", "draws"))
    store.save_replicate(unit, outcome(6, status="failed", notebook='{"failed": true}'))
    assert store.state(unit, 6) == "failed"
    assert replicate_path(unit, 6, "ranks").read_bytes() == ranks
    assert replicate_path(unit, 6, "draws").read_bytes() == draws
    assert replicate_path(unit, 6, "notebook").read_text() == '{"failed": true}'  # what the failure ran


def test_gather_honours_the_campaign_count_and_reports_extra_and_corrupt(unit, caplog):
    for r in range(5):
        store.save_replicate(unit, outcome(r, status="failed" if r == 1 else "ok"))
    replicate_path(unit, 3, "record").write_text("{not json")
    gathered = store.gather(unit, replicates=4)
    assert sorted(gathered.ranks["replicate"].unique()) == [0, 2]
    assert list(gathered.ranks.columns) == RANKS_COLUMNS
    assert list(gathered.replicates["replicate"]) == [0, 1, 2]
    assert list(gathered.replicates["status"]) == ["ok", "failed", "ok"]
    assert gathered.corrupt == [3] and gathered.extra == [4]
    with caplog.at_level(logging.WARNING, logger="sbc"):
        store.warn_unused("noncentered", gathered, 4)
    assert len(caplog.records) == 2
    assert "1 replicate file(s) are corrupt" in caplog.records[0].message
    assert "1 replicate(s) on disk beyond the campaign's 4" in caplog.records[1].message


def test_gather_without_replicates_gives_empty_tables_with_the_contract_columns(unit):
    gathered = store.gather(unit, replicates=3)
    assert gathered.ranks.empty and gathered.replicates.empty
    assert list(gathered.ranks.columns) == RANKS_COLUMNS
    assert list(gathered.replicates.columns) == [c for c in REPLICATE_COLUMNS if c != "flags"]


def test_clean_partial_writes_removes_only_replicate_temporaries(tmp_path):
    replicates = tmp_path / "m" / "replicates"
    replicates.mkdir(parents=True)
    (replicates / ".0003.json.abc.tmp").write_text("x")
    (replicates / ".notebook.css.abc.tmp").write_text("x")
    assert store.clean_partial_writes(tmp_path) == 1
    assert [p.name for p in replicates.iterdir()] == [".notebook.css.abc.tmp"]


def test_manifest_round_trip_and_a_missing_or_corrupt_manifest(tmp_path):
    with pytest.raises(StoreError, match="campaign.json"):
        store.read_manifest(tmp_path)
    store.write_manifest(tmp_path, {"name": "demo", "base_dir": tmp_path})
    assert store.read_manifest(tmp_path) == {"name": "demo", "base_dir": str(tmp_path)}
    (tmp_path / "campaign.json").write_text("{")
    with pytest.raises(StoreError, match="corrupt"):
        store.read_manifest(tmp_path)
