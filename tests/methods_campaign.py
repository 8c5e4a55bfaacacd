"""The held-out campaign every inference method runs in (beta_binomial, which no backend was
developed on): shared by ``inference/test_all_methods.py`` and ``inference/test_jax_samplers.py``.
Settings are tiny: the tests check that each method runs in a campaign and what it returns."""

import subprocess

import pandas as pd

from processes import sbc

EXACT = "sbc_helpers.models:beta_binomial_posterior"

JAX_METHODS = """\
      - {method: nuts, sampler: numpyro}
      - {method: nuts, sampler: blackjax}
"""

PYMC_METHODS = f"""\
      - {{method: nuts, sampler: nutpie}}
      - {{method: nuts, sampler: pymc}}
      - {{method: advi, iterations: 2000, draws: 100}}
      - {{method: fullrank_advi, iterations: 2000, draws: 100}}
      - {{method: pathfinder, draws: 100, num_paths: 2, draws_per_path: 100}}
      - {{method: laplace, draws: 100}}
      - {{method: smc, draws: 100, chains: 2}}
      - {{method: exact, function: '{EXACT}', draws: 100}}
      - {{method: custom, function: '{EXACT}', draws: 100, independent_draws: true}}
"""
ALL_METHODS = PYMC_METHODS + JAX_METHODS

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

JAX_UNITS = ["bb-nuts-numpyro", "bb-nuts-blackjax"]
PYMC_UNITS = ["bb-nuts", "bb-nuts-pymc", "bb-advi", "bb-fullrank_advi", "bb-pathfinder", "bb-laplace", "bb-smc",
              "bb-exact", "bb-custom"]


def run(folder, methods: str, workers: int) -> subprocess.CompletedProcess:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "every_method.yaml").write_text(CAMPAIGN.format(methods=methods))
    return sbc("run", folder / "every_method.yaml", "--output-dir", folder / "out", "--workers", workers, timeout=1800)


def check_units(done: subprocess.CompletedProcess, out, units: list[str]) -> None:
    """Every unit's replicates ok, its parameter ranked, its unit on the index page."""
    assert done.returncode == 0, done.stderr[-3000:]
    index = (out / "index.html").read_text()
    for unit in units:
        replicates = pd.read_parquet(out / unit / "replicates.parquet")
        assert list(replicates["status"]) == ["ok"] * 3, (unit, replicates.to_dict("records"))
        ranks = pd.read_parquet(out / unit / "ranks.parquet")
        assert set(ranks["variable"]) >= {"p"} and ranks["rank"].between(0, 19).all(), unit
        assert unit in index
