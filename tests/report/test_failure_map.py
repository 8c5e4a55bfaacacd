"""An inference that fails only for high values of a parameter is reported with that parameter:
a real campaign through ``sbc run``; failures.csv, verdict.json and the pages name it."""

import json

import pandas as pd
import pytest

from processes import sbc

CAMPAIGN = """\
name: highmean
seed: 17
replicates: 40
rank_draws: 20
stop_after_failures: 0
design: {maker: normal_normal_design, n_points: 4}
models:
  - name: nn
    model: normal_normal
    inference: {method: custom, function: post.py:posterior, draws: 40, independent_draws: true}
"""

POSTERIOR = """\
import numpy as np

from sbc_helpers.models import normal_normal_posterior
from sbc_helpers.models.library import observed_value


def posterior(model, rng, draws):
    if observed_value(model, "y").mean() > 0.8:
        raise RuntimeError("diverged: the data's mean is too high")
    return normal_normal_posterior(model, rng, draws)
"""


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    folder = tmp_path_factory.mktemp("highmean")
    (folder / "post.py").write_text(POSTERIOR)
    (folder / "highmean.yaml").write_text(CAMPAIGN)
    done = sbc("run", folder / "highmean.yaml", "--output-dir", folder / "out", "--workers", "2", timeout=1200)
    return done, folder / "out" / "highmean"


@pytest.mark.slow
def test_failures_at_high_mu_are_reported_with_mu(campaign):
    done, out = campaign
    unit = out / "nn"
    assert (unit / "verdict.json").is_file(), done.stderr[-3000:]
    replicates = pd.read_parquet(unit / "replicates.parquet")
    n_failed = int((replicates["status"] == "failed").sum())
    assert 5 <= n_failed <= 20, replicates["status"].value_counts()
    table = pd.read_csv(unit / "failures.csv").set_index("quantity")
    print("\n" + table.to_string())
    assert table.loc["mu", "n_failed"] == n_failed and table.loc["mu", "direction"] == "high"
    assert table.loc["mu", "p_adjusted"] < 0.01
    truths = pd.read_parquet(unit / "truths.parquet")
    failed_mu = truths.query("quantity == 'mu' and outcome == 'failed'")
    assert len(failed_mu) == n_failed  # every failure kept the truth it drew before the fit
    verdict = json.loads((unit / "verdict.json").read_text())
    sentence = "fits fail when mu is high: the verdict does not cover that region"
    assert verdict["failure_region"] == sentence and sentence in verdict["verdict"]
    assert sentence in (out / "index.html").read_text()
    summary = (unit / "summary.html").read_text()
    assert sentence in summary and "Where fits fail or are flagged" in summary
    # the page reads in order of importance: the verdict, the calibration table, the rank plots,
    # then where fits fail
    headings = ["Calibration per quantity", "Rank histograms", "ECDF differences", "Where fits fail or are flagged"]
    assert [summary.index(h) for h in headings] == sorted(summary.index(h) for h in headings)
    assert summary.index(sentence) < summary.index("Calibration per quantity")  # the verdict says it first


def test_the_failure_figures_draw_outcomes_and_divergences():
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np

    from sbc_helpers.report import plots
    from sbc_helpers.stats.failures import failure_dependence

    rng = np.random.default_rng(0)
    tau = np.abs(rng.normal(size=40))
    divergences = np.where(tau < 0.3, 20, 0).astype(float)
    outcome = np.where(tau < 0.3, "flagged", "clean")
    divergences[:3], outcome[:3] = np.nan, "failed"
    truths = pd.DataFrame({"replicate": range(40), "quantity": "tau", "true_value": tau, "outcome": outcome,
                           "divergences": divergences})
    fig = plots.failure_map(truths, failure_dependence(truths))
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["clean", "flagged", "failed"]
    assert "p adj." in fig.axes[0].get_title()
    assert len(plots.divergences_vs_truth(truths).axes[0].collections[0].get_offsets()) == 37
    assert plots.divergences_vs_truth(truths.assign(divergences=np.nan)) is None
