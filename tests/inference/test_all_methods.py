"""Every inference method through the real ``sbc run``, side by side on one held-out model
(beta_binomial, which no backend was developed on), and the JAX samplers' ranks on 1 and 2 workers.

Settings are tiny: these tests check that each method runs in a campaign and what it returns, not
how good its approximation is (that is ``validation/campaigns/methods.yaml``).
"""

import importlib.util
import subprocess

import pandas as pd
import pytest

from processes import SBC
from sbc_helpers.cli import main
from sbc_helpers.inference import METHODS

EXACT = "sbc_helpers.models:beta_binomial_posterior"

JAX_METHODS = """\
      - {method: nuts, sampler: numpyro}
      - {method: nuts, sampler: blackjax}
"""

ALL_METHODS = f"""\
      - {{method: nuts, sampler: nutpie}}
      - {{method: nuts, sampler: pymc}}
{JAX_METHODS}\
      - {{method: advi, iterations: 2000, draws: 100}}
      - {{method: fullrank_advi, iterations: 2000, draws: 100}}
      - {{method: pathfinder, draws: 100, num_paths: 2, draws_per_path: 100}}
      - {{method: laplace, draws: 100}}
      - {{method: smc, draws: 100, chains: 2}}
      - {{method: exact, function: '{EXACT}', draws: 100}}
      - {{method: custom, function: '{EXACT}', draws: 100, independent_draws: true}}
"""

CAMPAIGN = """\
name: every_method
seed: 16
replicates: 3
rank_draws: 19
inference: {{method: nuts, draws: 100, tune: 100, chains: 2}}
models:
  - name: bb
    model: beta_binomial
    model_kwargs: {{a: 2.0, b: 2.0, trials: 10}}
    design: {{maker: binomial_design, n_points: 6, trials: 10}}
    inference:
{methods}"""

UNITS = ["bb-nuts", "bb-nuts-pymc", "bb-nuts-numpyro", "bb-nuts-blackjax", "bb-advi", "bb-fullrank_advi",
         "bb-pathfinder", "bb-laplace", "bb-smc", "bb-exact", "bb-custom"]


def run(folder, methods: str, workers: int) -> subprocess.CompletedProcess:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "every_method.yaml").write_text(CAMPAIGN.format(methods=methods))
    return subprocess.run([*SBC, "run", folder / "every_method.yaml", "--output-dir", folder / "out", "--workers",
                           str(workers)], capture_output=True, text=True, timeout=1800)


@pytest.fixture(scope="module")
def every_method(tmp_path_factory):
    folder = tmp_path_factory.mktemp("every_method")
    done = run(folder, ALL_METHODS, workers=2)
    return done, folder / "out" / "every_method"


@pytest.mark.slow
def test_one_campaign_runs_every_method_side_by_side_with_no_failed_replicate(every_method):
    done, out = every_method
    assert done.returncode == 0, done.stderr[-3000:]
    assert {u.split("-")[1] for u in UNITS} == set(METHODS)  # every registered method is here
    for unit in UNITS:
        replicates = pd.read_parquet(out / unit / "replicates.parquet")
        assert list(replicates["status"]) == ["ok"] * 3, (unit, replicates.to_dict("records"))
        ranks = pd.read_parquet(out / unit / "ranks.parquet")
        assert set(ranks["variable"]) >= {"p"} and ranks["rank"].between(0, 19).all(), unit
    index = (out / "index.html").read_text()
    for unit in UNITS:
        assert unit in index


@pytest.mark.slow
def test_the_jax_samplers_give_the_same_ranks_on_one_and_two_workers(every_method, tmp_path):
    _, two = every_method
    done = run(tmp_path, JAX_METHODS, workers=1)
    assert done.returncode == 0, done.stderr[-3000:]
    one = tmp_path / "out" / "every_method"
    for unit in ("bb-nuts-numpyro", "bb-nuts-blackjax"):
        by = ["replicate", "variable"]
        a = pd.read_parquet(one / unit / "ranks.parquet").sort_values(by).reset_index(drop=True)
        b = pd.read_parquet(two / unit / "ranks.parquet").sort_values(by).reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("missing, words", [("jax", "sampler 'numpyro' needs jax"),
                                            ("blackjax", "sampler 'blackjax' needs blackjax"),
                                            ("pymc_extras", "needs pymc_extras, which is not installed")])
def test_a_missing_package_is_one_line_and_exit_2_before_anything_runs(missing, words, tmp_path, capsys,
                                                                       monkeypatch):
    (tmp_path / "every_method.yaml").write_text(CAMPAIGN.format(methods=ALL_METHODS))
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == missing else real(name, *a))
    code = main(["run", str(tmp_path / "every_method.yaml"), "--output-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and words in err[0], err
    assert not (tmp_path / "out").exists()
