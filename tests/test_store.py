import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from sbc_helpers import store
from sbc_helpers.params import Campaign
from sbc_helpers.replicate import archive_bytes, read_archive

MODEL = "noncentered"
RANK_COLUMNS = ["replicate", "quantity", "variable", "rank", "max_rank", "true_value", "post_mean",
                "post_sd"]


def ranks_for(replicate: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "replicate": replicate,
            "quantity": ["mu", "alpha[A]"],
            "variable": ["mu", "alpha"],
            "rank": [replicate, 10 - replicate],
            "max_rank": 10,
            "true_value": [0.5, -1.0],
            "post_mean": [0.4, -0.9],
            "post_sd": [0.1, 0.2],
        }
    )


def archive_for(replicate: int) -> xr.Dataset:
    """A small archive: kept draws, true values (``true__``) and data (``data__``)."""
    return xr.Dataset(
        {
            "mu": (("draw",), np.linspace(0, 1, 10) + replicate),
            "alpha": (("draw", "group"), np.zeros((10, 1))),
            "true__mu": ((), 0.5),
            "true__alpha": (("group",), [-1.0]),
            "data__y": (("data__y_dim_0",), np.arange(4.0)),
        },
        coords={"group": ["A"]},
    )


def outcome(replicate: int, status: str = "ok", notebook: str | None = "{}") -> dict:
    out = {"record": {"replicate": replicate, "seed": 100 + replicate, "status": status,
                      "divergences": 0}, "notebook": notebook}
    if status == "ok":
        out["ranks"] = ranks_for(replicate)
        out["draws"] = archive_bytes(archive_for(replicate))
    return out


@pytest.mark.parametrize("replicate, stem", [(0, "0000"), (3, "0003"), (42, "0042"), (9999, "9999"),
                                             (12345, "12345")])
def test_replicate_stem_zero_pads_to_four(replicate, stem):
    assert store.replicate_stem(replicate) == stem


def test_replicate_paths_layout(tmp_path):
    paths = store.replicate_paths(tmp_path, MODEL, 7)
    base = tmp_path / MODEL / "replicates"
    assert paths == {
        "notebook": base / "0007.ipynb",
        "ranks": base / "0007.ranks.parquet",
        "draws": base / "0007.draws.nc",
        "record": base / "0007.json",
    }


def test_atomic_write_creates_folders_replaces_content_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "deep" / "folder" / "file.txt"
    store.atomic_write(path, b"first")
    assert path.read_bytes() == b"first"
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


def test_save_replicate_then_is_complete(tmp_path):
    assert not store.is_complete(tmp_path, MODEL, 0)
    store.save_replicate(tmp_path, MODEL, outcome(0))
    assert store.is_complete(tmp_path, MODEL, 0)
    paths = store.replicate_paths(tmp_path, MODEL, 0)
    assert all(p.is_file() for p in paths.values())
    assert store.read_record(tmp_path, MODEL, 0)["seed"] == 100
    pd.testing.assert_frame_equal(pd.read_parquet(paths["ranks"]), ranks_for(0))
    assert paths["draws"].read_bytes() == archive_bytes(archive_for(0))  # the netCDF bytes as given
    xr.testing.assert_identical(read_archive(paths["draws"]), archive_for(0))
    leftovers = [p.name for p in paths["record"].parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_failed_replicate_is_not_complete(tmp_path):
    store.save_replicate(tmp_path, MODEL, outcome(1, status="failed"))
    assert store.read_record(tmp_path, MODEL, 1)["status"] == "failed"
    assert not store.is_complete(tmp_path, MODEL, 1)
    assert not store.replicate_paths(tmp_path, MODEL, 1)["ranks"].exists()


def test_record_without_ranks_file_is_not_complete(tmp_path):
    store.save_replicate(tmp_path, MODEL, outcome(2))
    store.replicate_paths(tmp_path, MODEL, 2)["ranks"].unlink()
    assert not store.is_complete(tmp_path, MODEL, 2)


def test_record_without_draws_file_is_not_complete(tmp_path):
    store.save_replicate(tmp_path, MODEL, outcome(2))
    store.replicate_paths(tmp_path, MODEL, 2)["draws"].unlink()
    assert not store.is_complete(tmp_path, MODEL, 2)


def test_corrupt_record_is_not_complete(tmp_path):
    store.save_replicate(tmp_path, MODEL, outcome(4))
    store.replicate_paths(tmp_path, MODEL, 4)["record"].write_text('{"replicate": 4, "sta')
    assert store.read_record(tmp_path, MODEL, 4) is None
    assert not store.is_complete(tmp_path, MODEL, 4)


def test_gather_concatenates_ranks_of_ok_replicates_only(tmp_path):
    store.save_replicate(tmp_path, MODEL, outcome(0))
    store.save_replicate(tmp_path, MODEL, outcome(1, status="failed"))
    store.save_replicate(tmp_path, MODEL, outcome(2))
    store.save_replicate(tmp_path, MODEL, outcome(3))
    store.replicate_paths(tmp_path, MODEL, 3)["draws"].unlink()  # ok record, incomplete files

    ranks, table = store.gather(tmp_path, MODEL)

    assert sorted(ranks["replicate"].unique()) == [0, 2]
    assert list(ranks.columns) == RANK_COLUMNS
    pd.testing.assert_frame_equal(
        ranks.sort_values(["replicate", "quantity"]).reset_index(drop=True),
        pd.concat([ranks_for(0), ranks_for(2)]).sort_values(["replicate", "quantity"]).reset_index(drop=True),
    )
    assert list(table["replicate"]) == [0, 1, 2, 3]
    assert list(table["status"]) == ["ok", "failed", "ok", "ok"]
    folder = tmp_path / MODEL
    pd.testing.assert_frame_equal(pd.read_parquet(folder / "ranks.parquet"), ranks)
    pd.testing.assert_frame_equal(pd.read_parquet(folder / "replicates.parquet"), table)


def test_gather_without_replicates_writes_empty_tables(tmp_path):
    ranks, table = store.gather(tmp_path, MODEL)
    assert ranks.empty and table.empty
    assert list(ranks.columns) == RANK_COLUMNS
    assert (tmp_path / MODEL / "ranks.parquet").is_file()
    assert (tmp_path / MODEL / "replicates.parquet").is_file()


def test_records_are_in_replicate_order_beyond_four_digits(tmp_path):
    for r in (10000, 2, 999):
        store.save_replicate(tmp_path, MODEL, outcome(r, status="failed"))
    assert [rec["replicate"] for rec in store.records(tmp_path, MODEL)] == [2, 999, 10000]


def _campaign(tmp_path, models) -> Campaign:
    return Campaign(name="demo", seed=1, replicates=2, rank_draws=10, base_dir=tmp_path,
                    inference={"draws": 20, "tune": 20, "chains": 1}, models=models)


def test_manifest_round_trip_and_campaign_models(tmp_path):
    with pytest.raises(FileNotFoundError, match="campaign.json"):
        store.campaign_models(tmp_path)
    campaign = _campaign(tmp_path, [{"name": "a", "model": "hierarchical_centered"},
                                    {"name": "b", "model": "hierarchical_noncentered"}])
    store.write_manifest(tmp_path, campaign.model_dump(mode="json"))
    assert store.campaign_models(tmp_path) == ["a", "b"]
    assert store.read_manifest(tmp_path)["base_dir"] == str(tmp_path)  # paths written as strings
    assert json.loads((tmp_path / "campaign.json").read_text())["name"] == "demo"
    assert Campaign(**store.read_manifest(tmp_path)) == campaign  # the manifest validates as a Campaign


def test_campaign_models_are_the_output_folders_of_each_inference_method(tmp_path):
    campaign = _campaign(tmp_path, [
        {"name": "a", "model": "hierarchical_centered"},
        {"name": "b", "model": "hierarchical_noncentered",
         "inference": [{"method": "nuts"}, {"method": "advi", "draws": 50}]},
    ])
    store.write_manifest(tmp_path, campaign.model_dump(mode="json"))
    assert store.campaign_models(tmp_path) == ["a", "b-nuts", "b-advi"]


def test_a_manifest_that_is_not_a_campaign_is_rejected(tmp_path):
    store.write_manifest(tmp_path, {"name": "demo", "models": [{"name": "a"}]})
    assert store.read_manifest(tmp_path)["name"] == "demo"  # read as written
    with pytest.raises(ValueError):  # pydantic's ValidationError: no seed, replicates, model
        store.campaign_models(tmp_path)
