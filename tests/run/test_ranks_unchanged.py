"""Same seeds, same ranks: ranks recorded before issue #20's throughput changes (figures, the
vectorised log-likelihood, lazy imports, the compile cache, `make_plots: flagged`) are what the
code gives now, by ``run_replicate`` and by the replicate template on a warm kernel.

``tests/data/ranks_before_issue20.csv`` was written by ``run_replicate`` at commit 03419e1 (the
seed model on the 5 x 10 design, the demo campaign's seeds for its first 4 replicates, 2 chains of
200 + 200, L = 100, one derived quantity and the log-likelihood), with ``NUMBA_CPU_NAME=generic``:
the portable target ``sbc_helpers`` now sets, without which Numba's code and so the draws follow
the CPU (the file first recorded on another machine failed here on an AMD znver5 one).
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sbc_helpers.run import steps
from sbc_helpers.run.execute import ReplicateTask, execute_replicate

ROOT = Path(__file__).resolve().parents[2]
RECORDED = pd.read_csv(ROOT / "tests" / "data" / "ranks_before_issue20.csv")
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


def test_run_replicate_gives_the_recorded_ranks():
    built = steps.build(steps.load_design(DESIGN), "hierarchical_centered")
    for replicate, seed in RECORDED.groupby("replicate")["seed"].first().items():
        result = steps.run_replicate(built, int(replicate), int(seed), dict(INFERENCE), rank_draws=100,
                                     expressions=DERIVED, log_lik=True, cores=1)
        _same(result.ranks, int(replicate))


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

