"""The gallery's hundred-group hierarchy, over 200 quantities: every page bounds its figures
(``cases.py``), through the real ``sbc run``, in prior SBC and in posterior SBC."""

import pytest

from gallery import cases

pytestmark = pytest.mark.slow  # a whole campaign
gallery, test_every_shape_runs_to_a_verdict_with_the_default_settings, test_every_replicate_notebook_shows_its_figures = \
    cases.group_tests("groups")


def test_posterior_sbc_of_the_hundred_groups_states_its_data_and_reference(gallery):
    _, out = gallery
    summary = (out / "schools_posterior" / "summary.html").read_text()
    assert "Posterior SBC conditional on schools_scores.csv" in summary and "Reference posterior: ESS" in summary
