"""The gallery's autoregressions and random walk (``cases.py``), through the real ``sbc run``."""

import pytest

from gallery import cases

pytestmark = pytest.mark.slow  # a whole campaign
gallery, test_every_shape_runs_to_a_verdict_with_the_default_settings, test_every_replicate_notebook_shows_its_figures = \
    cases.group_tests("series")
