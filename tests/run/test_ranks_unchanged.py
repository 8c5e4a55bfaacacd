"""Same seeds, same ranks: the ranks recorded in ``tests/data/recorded_ranks.csv`` are what the code
gives, by ``run_replicate`` and by the replicate template on a warm kernel, with the Numba cache off
or on.

The file holds the seed model on the 5 x 10 design, the demo campaign's seeds for its first 4
replicates, 2 chains of 200 + 200, L = 100, one derived quantity and the log-likelihood. It changes
only when a change of the code is meant to change draws; then ``python -m tests.run.test_ranks_unchanged``
records it again (last: when PyTensor's fast math went off, so that the Numba cache could go on).
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sbc_helpers.run import steps
from sbc_helpers.run.execute import ReplicateTask, execute_replicate

ROOT = Path(__file__).resolve().parents[2]
RECORDED = pd.read_csv(ROOT / "tests" / "data" / "recorded_ranks.csv")
DESIGN = {"maker": "seed_design", "n_groups": 5, "n_points": 10, "seed": 1234}
INFERENCE = {"method": "nuts", "sampler": "nutpie", "draws": 200, "tune": 200, "chains": 2, "target_accept": 0.95}
DERIVED = {"alpha_contrast": "alpha[:, 0] - alpha[:, 1]"}


def _same(ranks: pd.DataFrame, replicate: int) -> None:
    expected = RECORDED[RECORDED["replicate"] == replicate].reset_index(drop=True)
    got = ranks.reset_index(drop=True)
    assert list(got["quantity"]) == list(expected["quantity"])
    np.testing.assert_array_equal(got["rank"], expected["rank"], err_msg=f"replicate {replicate}")
    for column in ("true_value", "post_mean", "post_sd"):
        np.testing.assert_allclose(got[column], expected[column], rtol=1e-12, atol=0, err_msg=column)


def _run_replicates() -> dict[int, pd.DataFrame]:
    built = steps.build(steps.load_design(DESIGN), "hierarchical_centered")
    return {int(replicate): steps.run_replicate(built, int(replicate), int(seed), dict(INFERENCE), rank_draws=100,
                                                derived=DERIVED, log_likelihood=True, cores=1).ranks
            for replicate, seed in RECORDED.groupby("replicate")["seed"].first().items()}


def test_run_replicate_gives_the_recorded_ranks():
    for replicate, ranks in _run_replicates().items():
        _same(ranks, replicate)


@pytest.mark.slow
def test_the_template_with_its_figures_gives_the_recorded_ranks():
    """Two replicates on one warm kernel (the second on warm, reused functions), figures drawn."""
    template = (ROOT / "templates" / "sbc_replicate.ipynb").read_text()
    parameters = {"model": "hierarchical_centered", "design": DESIGN, "inference": INFERENCE, "cores": 1,
                  "rank_draws": 100, "derived": DERIVED, "make_plots": True}
    seeds = RECORDED.groupby("replicate")["seed"].first()
    for replicate in (0, 1):
        outcome = execute_replicate(ReplicateTask("centered", replicate, int(seeds[replicate]), template, parameters,
                                                  timeout=300, kernel_reuse=10))
        assert outcome.record.status == "ok", outcome.record.message
        assert '"image/png"' in outcome.notebook  # the figures were drawn
        _same(outcome.ranks, replicate)



if __name__ == "__main__":  # record the file again
    import sbc_helpers

    sbc_helpers.configure()
    rows = [ranks.assign(replicate=replicate) for replicate, ranks in _run_replicates().items()]
    seeds = RECORDED.groupby("replicate")["seed"].first()
    table = pd.concat(rows).assign(seed=lambda t: t["replicate"].map(seeds))[list(RECORDED.columns)]
    table.to_csv(ROOT / "tests" / "data" / "recorded_ranks.csv", index=False, float_format="%.17g")
