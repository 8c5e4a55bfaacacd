"""The JAX samplers (numpyro, blackjax) through the real ``sbc run`` on the held-out model of
``test_all_methods.py``, and their ranks on 1 and 2 workers: the same."""

import pandas as pd
import pytest

from methods_campaign import JAX_METHODS, JAX_UNITS, check_units, run


@pytest.mark.slow
def test_the_jax_samplers_run_and_give_the_same_ranks_on_one_and_two_workers(tmp_path):
    done = run(tmp_path / "two", JAX_METHODS, workers=2)
    two = tmp_path / "two" / "out" / "every_method"
    check_units(done, two, JAX_UNITS)
    done = run(tmp_path / "one", JAX_METHODS, workers=1)
    one = tmp_path / "one" / "out" / "every_method"
    assert done.returncode == 0, done.stderr[-3000:]
    for unit in JAX_UNITS:
        by = ["replicate", "variable"]
        a = pd.read_parquet(one / unit / "ranks.parquet").sort_values(by).reset_index(drop=True)
        b = pd.read_parquet(two / unit / "ranks.parquet").sort_values(by).reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b)
