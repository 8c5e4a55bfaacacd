"""Sequential stopping: the rule reads replicates in index order whatever order they finish in,
skips failed ones, and stops a unit that is flagged, reaches its resolution, or its maximum; a real
campaign stops a miscalibrated unit early and runs a calibrated one to its maximum."""

import re
import subprocess
import textwrap

import numpy as np
import pandas as pd
import pytest

from processes import SBC
from sbc_helpers.run.params import Campaign
from sbc_helpers.run.sequential import UnitMonitor, decide



def _campaign(**sequential) -> Campaign:
    return Campaign(name="s", seed=1, replicates=400, rank_draws=20, sequential=sequential,
                    models=[{"name": "m", "model": "normal_normal"}], inference={"method": "nuts"})


def _ranks(replicate: int, values: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"replicate": replicate, "quantity": [f"q{i}" for i in range(len(values))],
                         "rank": values, "max_rank": 20})


def _stream(rng, n: int, bad: bool) -> list[pd.DataFrame]:
    """Ranks of two quantities; with ``bad`` the first piles at the ends (a too-narrow posterior)."""
    out = []
    for r in range(n):
        first = int(rng.choice([0, 20])) if bad else int(rng.integers(0, 21))
        out.append(_ranks(r, [first, int(rng.integers(0, 21))]))
    return out


def test_the_stopping_point_does_not_depend_on_the_order_replicates_finish_in():
    stream = _stream(np.random.default_rng(3), 200, bad=True)
    decisions = []
    for order in (range(200), np.random.default_rng(1).permutation(200), range(199, -1, -1)):
        monitor = UnitMonitor(_campaign())
        for r in order:
            monitor.add(int(r), stream[r])
        decisions.append(monitor.decision)
    first = decisions[0]
    assert first.reason == "flagged" and first.flagged == ["q0"] and first.stopped_at < 40
    assert all((d.reason, d.stopped_at, d.flagged) == (first.reason, first.stopped_at, first.flagged)
               for d in decisions)
    assert re.fullmatch(rf"stopped at {first.stopped_at} of 400: flagged q0 \(e-value [\d.e+]+ >= 40\)",
                        first.line(400))


def test_failed_replicates_are_skipped_and_the_prefix_waits_for_a_gap():
    stream = _stream(np.random.default_rng(4), 60, bad=True)
    monitor = UnitMonitor(_campaign())
    for r in range(1, 60):  # replicate 0 has not finished: nothing can be decided
        assert monitor.add(r, stream[r]).reason is None
    assert monitor.decision.ranked == 0
    decision = monitor.add(0, None)  # it failed: the rule skips it and reads the rest
    assert decision.reason == "flagged" and decision.ranked == decision.stopped_at - 1


def test_a_calibrated_unit_runs_to_its_maximum_or_to_its_resolution():
    stream = _stream(np.random.default_rng(5), 400, bad=False)
    monitor = UnitMonitor(_campaign())
    for r, ranks in enumerate(stream):
        monitor.add(r, ranks)
    assert (monitor.decision.reason, monitor.decision.stopped_at) == ("maximum", 400)
    assert monitor.decision.line(400) == "ran to 400 of 400: not flagged"
    monitor = UnitMonitor(_campaign(resolution=0.3))
    for r, ranks in enumerate(stream):
        if monitor.add(r, ranks).reason:
            break
    assert monitor.decision.reason == "resolution"
    assert monitor.decision.stopped_at == monitor.decision.target < 400


def test_decide_from_the_tables_on_disk_matches_the_live_monitor():
    stream = _stream(np.random.default_rng(6), 120, bad=True)
    ranks = pd.concat(stream, ignore_index=True)
    replicates = pd.DataFrame({"replicate": range(120), "status": "ok"})
    replicates.loc[3, "status"] = "failed"
    ranks = ranks.loc[ranks["replicate"] != 3]
    live = UnitMonitor(_campaign())
    for r in np.random.default_rng(2).permutation(120):
        live.add(int(r), None if r == 3 else stream[r])
    on_disk = decide(_campaign(), ranks, replicates)
    assert (on_disk.reason, on_disk.stopped_at, on_disk.flagged) == (live.decision.reason, live.decision.stopped_at,
                                                                      live.decision.flagged)


POSTERIOR = textwrap.dedent('''
    import numpy as np
    from sbc_helpers.models import data_value, observed_value


    def overconfident(model, rng, draws):
        """The exact normal-normal posterior with its sd halved: too narrow."""
        m0, s0 = float(data_value(model, "m0")), float(data_value(model, "s0"))
        sigma, y = data_value(model, "sigma"), observed_value(model, "y")
        precision = 1 / s0**2 + np.sum(1 / sigma**2)
        mean = (m0 / s0**2 + np.sum(y / sigma**2)) / precision
        return {"mu": rng.normal(mean, 0.5 / np.sqrt(precision), size=draws)}
''')

CAMPAIGN = """\
name: {name}
seed: 3
replicates: {replicates}
rank_draws: 100
design: {{maker: normal_normal_design, n_points: 5}}
sequential: {{alpha: 0.05}}
models:
  - {{name: {name}, model: normal_normal, inference: {inference}}}
"""


@pytest.fixture(scope="module")
def campaigns(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sequential")
    (folder / "post.py").write_text(POSTERIOR)
    runs = {}
    for name, replicates, inference in [
        ("narrow", 1000, "{method: custom, function: post.py:overconfident, draws: 100, independent_draws: true}"),
        ("exact", 60, "{method: exact, function: 'sbc_helpers.models:normal_normal_posterior', draws: 100}"),
    ]:
        (folder / f"{name}.yaml").write_text(CAMPAIGN.format(name=name, replicates=replicates, inference=inference))
        pages = [] if name == "narrow" else ["--no-report"]  # only the narrow unit's page is read
        runs[name] = subprocess.run([*SBC, "run", folder / f"{name}.yaml", "--output-dir", folder / "out",
                                     "--workers", "2", *pages], capture_output=True, text=True, timeout=1200)
    return folder, runs


@pytest.mark.slow
def test_a_miscalibrated_unit_stops_flagged_after_a_small_fraction(campaigns):
    folder, runs = campaigns
    assert runs["narrow"].returncode == 0, runs["narrow"].stderr[-2000:]
    stop = re.search(r"narrow stopped at (\d+) of 1000: flagged mu", runs["narrow"].stderr)
    assert stop and int(stop.group(1)) <= 50, runs["narrow"].stderr[-2000:]
    ranks = pd.read_parquet(folder / "out" / "narrow" / "narrow" / "ranks.parquet")
    assert ranks["replicate"].max() < int(stop.group(1))  # the tables hold the replicates the rule used
    summary = (folder / "out" / "narrow" / "narrow" / "summary.html").read_text()
    assert "Sequential verdict" in summary and f"stopped at {stop.group(1)} of 1000" in summary
    assert "calibrated (descriptive)" in summary and "at the 2.5% level" in summary
    again = subprocess.run([*SBC, "run", folder / "narrow.yaml", "--output-dir", folder / "out", "--no-report"],
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "ran 0," in again.stderr and "already stopped at" in again.stderr


@pytest.mark.slow
def test_a_calibrated_unit_runs_to_its_maximum_unflagged(campaigns):
    folder, runs = campaigns
    assert runs["exact"].returncode == 0, runs["exact"].stderr[-2000:]
    assert "exact ran to 60 of 60: not flagged" in runs["exact"].stderr
    table = pd.read_parquet(folder / "out" / "exact" / "exact" / "replicates.parquet")
    assert len(table) == 60 and (table["status"] == "ok").all()
    status = subprocess.run([*SBC, "status", folder / "out" / "exact"], capture_output=True, text=True)
    assert "ran to 60 of 60: not flagged" in status.stdout
