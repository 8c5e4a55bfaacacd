"""The gallery's Bambi formulas, a Gaussian and a Bernoulli one (``cases.py``), through the real ``sbc run``."""

import pytest

from gallery import cases

pytestmark = pytest.mark.slow  # a whole campaign
GROUP = "formulas"


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    return cases.run(tmp_path_factory.mktemp(GROUP), GROUP)


def test_every_shape_runs_to_a_verdict_with_the_default_settings(gallery):
    cases.check_verdicts(*gallery)


@pytest.mark.parametrize("unit", cases.GROUPS[GROUP])
def test_every_replicate_notebook_shows_its_figures(gallery, unit):
    cases.check_figures(gallery[1], unit)


def test_a_formula_model_states_its_priors(gallery):
    _, out = gallery
    described = (out / "formula" / "model.txt").read_text()
    assert "yield_t ~ rain_mm + (1|farm)" in described and "Priors" in described
    summary = (out / "formula" / "summary.html").read_text()
    assert "1|farm_sigma" in summary and "HalfNormal" in summary
