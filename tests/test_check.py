"""``sbc check PARAMS --baseline DIR``: one tiny campaign run twice from the command line (exact
posterior, no figures, no report), the second time as a check against the first: both record their
provenance, the check runs sequentially, pairs the replicates and exits 0."""

import json
import textwrap

import pytest

from processes import sbc

PARAMS = textwrap.dedent("""
    name: conjugate
    seed: 3
    replicates: 12
    rank_draws: 10
    make_plots: false
    design: {maker: normal_normal_design, n_points: 4}
    inference: {method: exact, function: "sbc_helpers.models:normal_normal_posterior", draws: 10}
    models:
      - {name: mean, model: normal_normal}
""")


@pytest.mark.slow
def test_a_check_against_the_same_campaign_is_paired_and_exits_zero(tmp_path):
    params = tmp_path / "conjugate.yaml"
    params.write_text(PARAMS)
    base = sbc("run", params, "--output-dir", tmp_path / "base", "--no-report", "--workers", "1", "-q")
    assert base.returncode == 0, base.stderr[-2000:]
    assert sbc("check", params, "--baseline", tmp_path / "nothing", "--output-dir", tmp_path / "now").returncode == 2
    assert not (tmp_path / "now").exists()
    log = (tmp_path / "base" / "conjugate" / "sbc.log").read_text()
    into_baseline = sbc("check", params, "--baseline", tmp_path / "base" / "conjugate", "--output-dir", tmp_path / "base")
    assert into_baseline.returncode == 2 and "is the baseline" in into_baseline.stderr
    assert (tmp_path / "base" / "conjugate" / "sbc.log").read_text() == log  # nothing written into it

    check = sbc("check", params, "--baseline", tmp_path / "base" / "conjugate", "--output-dir", tmp_path / "now",
                "--no-report", "--workers", "1")

    assert check.returncode == 0, check.stderr[-2000:]
    first = check.stdout.splitlines()[0]  # the check runs sequentially; sbc's own state may show too
    assert first.startswith("changed: ") and first.endswith("settings: sequential"), first
    assert "mean: paired: 12 common replicates with the same seeds" in check.stdout
    assert "nothing got worse" in check.stdout
    current = tmp_path / "now" / "conjugate"
    manifest = json.loads((current / "campaign.json").read_text())
    assert manifest["sequential"] is not None and manifest["provenance"]["packages"]["pymc"]
    assert (current / "compare" / "compare.csv").is_file() and (current / "compare" / "compare.html").is_file()
