"""Campaign folders written as a run writes them (replicate records and ranks), without fitting:
pairs of campaigns for the comparison's tests."""

import numpy as np
import pandas as pd

from outcomes import archive_for
from sbc_helpers.contract import Outcome, Record, archive_bytes
from sbc_helpers.run import provenance, store
from sbc_helpers.run.params import Campaign

L, N = 20, 60
ARCHIVE = archive_bytes(archive_for(0))


def write_campaign(folder, name="c", seed=1, sd_scale=1.0, failed=0, model="normal_normal", unit="m",
                   packages=None, quantity="mu"):
    """A campaign folder of ``N`` replicates of the conjugate normal model ranked among L draws of its
    exact posterior (scaled by ``sd_scale``), under the name ``quantity``; the true values come from ``seed`` (the seed in each
    record too), the posterior draws from a stream of their own; the first ``failed`` fail."""
    campaign = Campaign(name=name, seed=seed, replicates=N, rank_draws=L, models=[{"name": unit, "model": model}])
    truths = np.random.default_rng(seed)
    draws = np.random.default_rng([seed, int(sd_scale * 100), failed, len(name)])
    made = provenance.collect(campaign)
    made["packages"].update(packages or {})
    store.write_manifest(folder / name, campaign.model_dump(mode="json"), made)
    unit_dir = store.unit_dir(folder / name, unit)
    for r in range(N):
        mu = truths.normal()
        y = truths.normal(mu, 1)
        if r < failed:
            store.save_replicate(unit_dir, Outcome(Record.failed(r, seed * 1000 + r, "ValueError", "broke")))
            continue
        rank = int((draws.normal(y / 2, sd_scale * np.sqrt(0.5), L) < mu).sum())
        ranks = pd.DataFrame({"replicate": [r], "quantity": [quantity], "variable": ["mu"], "rank": [rank],
                              "max_rank": [L], "true_value": [mu], "post_mean": [y / 2], "post_sd": [0.7]})
        record = Record.ok(r, seed * 1000 + r, {"divergences": 0, "min_ess_bulk": 400.0},
                           seconds=float(draws.lognormal(0, 0.1)), rank_draws=L)
        store.save_replicate(unit_dir, Outcome(record, notebook="{}", ranks=ranks, draws=ARCHIVE))
    return folder / name
