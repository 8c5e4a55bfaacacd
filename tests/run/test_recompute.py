"""Recompute: ranks from the archives equal the run-time ranks, and a failure midway leaves every
ranks file as it was."""

import numpy as np
import pandas as pd
import pytest

from sbc_helpers.contract import Outcome, archive_bytes, read_archive, replicate_path
from sbc_helpers.errors import ParamsError
from sbc_helpers.models.references import resolve_model
from sbc_helpers.run import store
from sbc_helpers.run.params import Campaign
from sbc_helpers.run.recompute import recompute
from sbc_helpers.run.steps import run_replicate

TIES_MODULE = '''
import numpy as np
import pymc as pm


def model(design):
    with pm.Model() as m:
        k = pm.Bernoulli("k", 0.5, shape=2)  # a vector first ...
        j = pm.Bernoulli("j", 0.5)  # ... then a scalar
        pm.Normal("y", k.sum() + j, 1, observed=np.zeros(3))
    return m


def posterior(model, rng, draws):
    """A custom method's draws of discrete parameters: ties with the truth everywhere."""
    return {"k": rng.integers(0, 2, size=(draws, 2)), "j": rng.integers(0, 2, size=draws)}
'''


@pytest.fixture
def stored(tmp_path):
    """Three replicates of the ties model saved as a campaign would save them."""
    (tmp_path / "ties.py").write_text(TIES_MODULE)
    campaign = Campaign(name="ties", seed=1, replicates=3, rank_draws=20, log_likelihood=False, base_dir=tmp_path,
                        inference={"method": "custom", "function": "ties.py:posterior", "draws": 20},
                        models=[{"name": "m", "model": "ties.py:model"}])
    folder = tmp_path / "out"
    store.write_manifest(folder, campaign.model_dump(mode="json"))
    model = resolve_model("ties.py:model", tmp_path)(None)
    inference = {"method": "custom", "function": f"{tmp_path / 'ties.py'}:posterior", "draws": 20}
    written = {}
    for r in range(3):
        result = run_replicate(model, r, 100 + r, inference, rank_draws=20, log_likelihood=False)
        assert list(result.ranks["quantity"]) == ["k[0]", "k[1]", "j"]
        store.save_replicate(store.unit_dir(folder, "m"), Outcome(record=result.record, ranks=result.ranks,
                                                                   draws=archive_bytes(result.archive)))
        written[r] = result.ranks
    return campaign, folder, written


def test_recompute_with_unchanged_settings_gives_the_run_time_ranks_even_with_ties(stored):
    campaign, folder, written = stored
    assert recompute(folder, campaign) == 3
    for r, ranks in written.items():
        again = pd.read_parquet(replicate_path(store.unit_dir(folder, "m"), r, "ranks"))
        pd.testing.assert_frame_equal(again, ranks)


def test_a_failure_midway_leaves_every_ranks_file_as_it_was(stored):
    campaign, folder, _ = stored
    unit = store.unit_dir(folder, "m")
    before = {r: replicate_path(unit, r, "ranks").read_bytes() for r in range(3)}
    # replicate 1's archive gets a NaN draw: recomputing succeeds on replicate 0, then fails on it
    archived = read_archive(replicate_path(unit, 1, "draws"))
    archived["j"] = archived["j"].astype(float).copy()
    archived["j"][0] = np.nan
    replicate_path(unit, 1, "draws").write_bytes(archive_bytes(archived))
    halved = campaign.model_copy(update={"rank_draws": 10})
    with pytest.raises(ParamsError, match="m replicate 1: .*'j'.*non-finite"):
        recompute(folder, halved)
    assert {r: replicate_path(unit, r, "ranks").read_bytes() for r in range(3)} == before
    assert not list((unit / "replicates").glob(".*.tmp"))  # nothing staged is left behind
    # with replicate 1 out of the way the same settings succeed, and every ranks file changes
    replicate_path(unit, 1, "record").unlink()
    assert recompute(folder, halved) == 2
    for r in (0, 2):
        assert (pd.read_parquet(replicate_path(unit, r, "ranks"))["max_rank"] == 10).all()
