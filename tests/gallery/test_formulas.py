"""The gallery's Bambi formulas, a Gaussian and a Bernoulli one (``cases.py``), through the real ``sbc run``."""

import pytest

from gallery import cases

pytestmark = pytest.mark.slow  # a whole campaign
gallery, test_every_shape_runs_to_a_verdict_with_the_default_settings, test_every_replicate_notebook_shows_its_figures = \
    cases.group_tests("formulas")


def test_a_formula_model_states_its_priors(gallery):
    _, out = gallery
    described = (out / "formula" / "model.txt").read_text()
    assert "yield_t ~ rain_mm + (1|farm)" in described and "Priors" in described
    summary = (out / "formula" / "summary.html").read_text()
    assert "1|farm_sigma" in summary and "HalfNormal" in summary
