"""Every inference method through the real ``sbc run``, side by side on one held-out model
(beta_binomial, which no backend was developed on). The JAX samplers run in a campaign of their own
(``test_jax_samplers.py``): the two files' campaigns run side by side in the suite.

Settings are tiny: these tests check that each method runs in a campaign and what it returns, not
how good its approximation is (that is ``validation/campaigns/methods.yaml``).
"""

import importlib.util

import pytest

from methods_campaign import ALL_METHODS, CAMPAIGN, JAX_UNITS, PYMC_METHODS, PYMC_UNITS, check_units, run
from sbc_helpers.cli import main
from sbc_helpers.inference import METHODS


@pytest.mark.slow
def test_one_campaign_runs_every_method_side_by_side_with_no_failed_replicate(tmp_path):
    assert {u.split("-")[1] for u in PYMC_UNITS + JAX_UNITS} == set(METHODS)  # every registered method is here
    # one worker: its kernel compiles each method once (two would compile every method twice)
    check_units(run(tmp_path, PYMC_METHODS, workers=1), tmp_path / "out" / "every_method", PYMC_UNITS)


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
