"""What would fail every replicate is caught before any runs, or stops its unit early; nothing
non-finite becomes a rank; failures are grouped on the pages."""

import re
import subprocess
import textwrap
import time

import numpy as np
import pandas as pd
import pymc as pm
import pytest

from processes import SBC
from sbc_helpers.cli import main
from sbc_helpers.errors import NonFiniteError
from sbc_helpers.models import normal_normal, normal_normal_design
from sbc_helpers.run.steps import run_replicate


USER = textwrap.dedent('''
    import numpy as np
    import pymc as pm


    def with_potential(design):
        with pm.Model() as model:
            mu = pm.Normal("mu", 0, 1)
            pm.Potential("keep_positive", pm.math.switch(mu > 0, 0, -np.inf))
            pm.Normal("y", mu, 1, observed=np.zeros(len(design)))
        return model


    def two_params(design):
        with pm.Model() as model:
            mu = pm.Normal("mu", 0, 1)
            tau = pm.HalfNormal("tau", 1)
            pm.Normal("y", mu, tau, observed=np.zeros(len(design)))
        return model


    def missing_tau(rng, design):
        return {"mu": 0.1}, {"y": np.zeros(len(design))}


    def short_data(rng, design):
        return {"mu": 0.1, "tau": 1.0}, {"y": np.zeros(len(design) - 1)}


    def nan_draws(model, rng, draws):
        return {"mu": np.full(draws, np.nan)}
''')

BASE = """\
name: pre
seed: 1
replicates: 3
rank_draws: 10
design: {maker: normal_normal_design, n_points: 4}
inference: {method: nuts, draws: 20, tune: 20, chains: 1}
models:
"""

REFUSED = {
    # case: (models entry and extra settings, words the one line must contain)
    "potential": ("  - {name: m, model: user.py:with_potential}\n",
                  ["models.0 (m).model", "pm.Potential term(s) keep_positive", "give a simulator"]),
    "simulator names": ("  - {name: m, model: user.py:two_params, simulator: user.py:missing_tau}\n",
                        ["models.0 (m).simulator", "no true value for free variable(s) tau"]),
    "simulator shapes": ("  - {name: m, model: user.py:two_params, simulator: user.py:short_data}\n",
                         ["models.0 (m).simulator", "data for 'y' has shape (3,); the model's is (4,)"]),
    "derived typo": ("  - {name: m, model: user.py:two_params, derived: {ratio: 'mu / tua'}}\n",
                     ["models.0 (m).derived", "derived quantity 'ratio'", "NameError", "tua"]),
    "unknown quantity": ("  - {name: m, model: user.py:two_params, quantities: [mu, sigma]}\n",
                         ["models.0 (m).quantities", "sigma"]),
    "missing package": ("  - {name: m, model: user.py:two_params}\n",
                        ["models.0 (m).inference", "sampler 'nutpie' needs nutpie", "pip install nutpie"]),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_the_preflight_refuses_what_would_fail_every_replicate(case, tmp_path, capsys, monkeypatch):
    (tmp_path / "user.py").write_text(USER)
    params = tmp_path / "pre.yaml"
    params.write_text(BASE + REFUSED[case][0])
    if case == "missing package":
        import importlib.util

        real = importlib.util.find_spec
        monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "nutpie" else real(name, *a))
    code = main(["run", str(params), "--output-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("sbc: error:"), err
    for words in REFUSED[case][1]:
        assert words in err[0], err[0]
    assert not (tmp_path / "out").exists()  # nothing written


def test_a_potential_with_a_simulator_is_accepted(tmp_path, capsys):
    (tmp_path / "user.py").write_text(USER + textwrap.dedent('''
        def positive(rng, design):
            mu = abs(rng.normal())
            return {"mu": mu}, {"y": rng.normal(mu, 1, len(design))}
    '''))
    params = tmp_path / "pre.yaml"
    params.write_text(BASE + "  - {name: m, model: user.py:with_potential, simulator: user.py:positive}\n")
    from sbc_helpers.api import check_campaign
    from sbc_helpers.run.params import load_campaign

    assert list(check_campaign(load_campaign(params))) == ["m"]


# --- non-finite values fail the replicate ------------------------------------------------------------


@pytest.fixture(scope="module")
def conjugate():
    return normal_normal(normal_normal_design(5))


def _custom(tmp_path, body: str) -> dict:
    (tmp_path / "post.py").write_text("import numpy as np\n\n\ndef posterior(model, rng, draws):\n" + body)
    return {"method": "custom", "function": f"{tmp_path / 'post.py'}:posterior", "draws": 40}


def test_nan_posterior_draws_fail_the_replicate_naming_the_quantity(conjugate, tmp_path):
    inference = _custom(tmp_path, "    draws_ = rng.normal(size=draws)\n    draws_[3] = np.nan\n"
                                  "    return {'mu': draws_}\n")
    with pytest.raises(NonFiniteError, match=r"the posterior draws of 'mu' is non-finite \(1 of 40 values"):
        run_replicate(conjugate, 0, 5, inference, rank_draws=40)


def test_a_nan_in_a_draw_that_is_not_kept_fails_the_replicate_too(conjugate, tmp_path):
    # 40 draws thinned to 20 keep the even ones: draw 3 is not kept, yet it fails the replicate
    inference = _custom(tmp_path, "    draws_ = rng.normal(size=draws)\n    draws_[3] = np.nan\n"
                                  "    return {'mu': draws_}\n")
    with pytest.raises(NonFiniteError, match=r"the posterior draws of 'mu' is non-finite \(1 of 40 values"):
        run_replicate(conjugate, 0, 5, inference, rank_draws=20)


def test_a_non_finite_derived_quantity_fails_the_replicate(conjugate, tmp_path):
    inference = _custom(tmp_path, "    return {'mu': rng.normal(size=draws)}\n")
    with pytest.raises(NonFiniteError, match="'log_abs' is non-finite"):
        run_replicate(conjugate, 0, 5, inference, rank_draws=20, derived={"log_abs": "np.log(mu * 0)"})


def test_a_non_finite_log_likelihood_fails_the_replicate(tmp_path):
    with pm.Model() as model:
        tau = pm.HalfNormal("tau", 1)
        pm.Normal("y", 0, tau, observed=np.zeros(3))
    inference = _custom(tmp_path, "    return {'tau': np.r_[0.0, np.ones(draws - 1)]}\n")
    with pytest.raises(NonFiniteError, match="the posterior draws of 'log_lik' is non-finite"):
        run_replicate(model, 0, 5, inference, rank_draws=20)


# --- a unit whose replicates all fail stops early, and a rerun after the fix resumes ------------------

STOPPING = """\
name: stop
seed: 2
replicates: 12
rank_draws: 20
design: {{maker: normal_normal_design, n_points: 4}}
models:
  - {{name: good, model: normal_normal, inference: {{method: exact, function: '{nn}', draws: 40}}}}
  - {{name: broken, model: normal_normal, inference: {{method: custom, function: post.py:posterior, draws: 40}}}}
"""


@pytest.fixture(scope="module")
def stopped(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stop")
    (folder / "post.py").write_text("import numpy as np\n\n\ndef posterior(model, rng, draws):\n"
                                    "    return {'mu': np.full(draws, np.nan)}\n")
    (folder / "stop.yaml").write_text(STOPPING.format(nn="sbc_helpers.models:normal_normal_posterior"))
    started = time.monotonic()
    process = subprocess.Popen([*SBC, "run", folder / "stop.yaml", "--output-dir", folder / "out", "--workers", "2"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stop_line_at = None
    lines = []
    for line in process.stderr:
        lines.append(line)
        if stop_line_at is None and "broken stopped" in line:
            stop_line_at = time.monotonic() - started
    process.wait(timeout=900)
    return {"rc": process.returncode, "stderr": "".join(lines), "out": folder / "out" / "stop", "folder": folder,
            "stop_seconds": stop_line_at, "seconds": time.monotonic() - started}


@pytest.mark.slow
def test_a_unit_that_always_fails_stops_after_three_and_the_others_finish(stopped):
    assert stopped["rc"] == 1, stopped["stderr"][-2000:]
    out = stopped["out"]
    good = pd.read_parquet(out / "good" / "replicates.parquet")
    assert (good["status"] == "ok").sum() == 12
    broken = pd.read_parquet(out / "broken" / "replicates.parquet")
    assert len(broken) == 12 and (broken["status"] == "ok").sum() == 0
    failed = broken.loc[broken["status"] == "failed"]
    assert 3 <= len(failed) < 12 and (broken["status"] == "not_run").sum() == 12 - len(failed)
    assert set(failed["error"]) == {"NonFiniteError"}
    # the error once, with the path of the first failing notebook
    stops = [line for line in stopped["stderr"].splitlines() if "broken stopped" in line]
    assert len(stops) == 1, stopped["stderr"]
    first = int(failed["replicate"].min())
    assert f"{out / 'broken' / 'replicates' / f'{first:04d}.ipynb'}" in stops[0]
    assert "the posterior draws of 'mu' is non-finite" in stops[0]
    # in a pipe, progress is a log line at most every 30 s and one at the end, no redrawn bar
    assert "\r" not in stopped["stderr"]
    assert stopped["stderr"].count("INFO stop: 24/24 replicates") == 1
    print(f"\nfrom sbc run to the one-line stop: {stopped['stop_seconds']:.1f} s "
          f"(whole run {stopped['seconds']:.1f} s)")


@pytest.mark.slow
def test_the_pages_group_failures_by_message_with_a_link_to_the_first(stopped):
    out = stopped["out"]
    index = (out / "index.html").read_text()
    failed = pd.read_parquet(out / "broken" / "replicates.parquet").query("status == 'failed'")
    first = int(failed["replicate"].min())
    assert "<h2>Failures</h2>" in index
    row = re.search(r"<tr><td>(\d+)</td><td>NonFiniteError</td><td>([^<]*)</td><td><a href=\"([^\"]+)\"", index)
    assert row and int(row.group(1)) == len(failed) and "non-finite" in row.group(2)
    assert row.group(3) == f"broken/replicates/{first:04d}.html"
    assert (out / row.group(3)).is_file()  # the failing notebook, rendered
    verdict = re.search(r'<a href="broken/summary.html">broken</a>.*?<td class="bad">([^<]*)</td>', index).group(1)
    assert verdict.startswith("no completed replicates: stopped: its first 3 replicates failed with NonFiniteError")
    summary = (out / "broken" / "summary.html").read_text()
    assert "Failures" in summary and f"replicates/{first:04d}.html" in summary


@pytest.mark.slow
def test_a_rerun_after_the_fix_resumes_the_stopped_unit(stopped):
    folder = stopped["folder"]
    good_before = {p.name: p.stat().st_mtime_ns for p in (stopped["out"] / "good" / "replicates").glob("*.json")}
    (folder / "post.py").write_text("import numpy as np\n\n\ndef posterior(model, rng, draws):\n"
                                    "    return {'mu': rng.normal(size=draws)}\n")
    done = subprocess.run([*SBC, "run", folder / "stop.yaml", "--output-dir", folder / "out", "--workers", "2",
                           "--no-report"], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    assert "ran 12, skipped 12" in done.stderr
    broken = pd.read_parquet(stopped["out"] / "broken" / "replicates.parquet")
    assert (broken["status"] == "ok").all() and len(broken) == 12
    after = {p.name: p.stat().st_mtime_ns for p in (stopped["out"] / "good" / "replicates").glob("*.json")}
    assert after == good_before
