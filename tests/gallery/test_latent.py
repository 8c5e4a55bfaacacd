"""The gallery's Gaussian process, mixture and custom scan (``cases.py``), through the real ``sbc run``."""

import pytest

from gallery import cases

pytestmark = pytest.mark.slow  # a whole campaign
GROUP = "latent"


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    return cases.run(tmp_path_factory.mktemp(GROUP), GROUP)


def test_every_shape_runs_to_a_verdict_with_the_default_settings(gallery):
    cases.check_verdicts(*gallery)


@pytest.mark.parametrize("unit", cases.GROUPS[GROUP])
def test_every_replicate_notebook_shows_its_figures(gallery, unit):
    cases.check_figures(gallery[1], unit)
