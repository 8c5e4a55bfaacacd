"""Shared, expensive fixtures: PyMC models compiled and sampled once per test session.

Sampling uses tiny settings (draws=100, tune=100, chains=2, nutpie): the tests check the plumbing
(shapes, names, reproducibility), never the quality of a posterior. Inference settings are a plain
dict, the keyword arguments of ``fit`` (and the ``inference`` argument of ``run_replicate``).
"""

import pytest

import campaigns
import sbc_helpers

sbc_helpers.configure()  # before any test module defines or compiles Numba code

from sbc_helpers.models.designs import seed_design
from sbc_helpers.inference import fit
from sbc_helpers.models.library import hierarchical_centered, hierarchical_noncentered
from sbc_helpers.run.steps import run_replicate
from sbc_helpers.simulation.prior import simulate

TINY = {"method": "nuts", "sampler": "nutpie", "draws": 100, "tune": 100, "chains": 2, "cores": 1,
        "target_accept": 0.8}
RANK_DRAWS = 20


def pytest_collection_modifyitems(items):
    """Slow tests first, so that pytest-xdist starts the long campaigns early and the quick tests
    fill the gaps (a stable sort: the order within each group is kept)."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
REPLICATE_INDEX = 3
REPLICATE_SEED = 918_273_645


@pytest.fixture(scope="session")
def tiny_settings() -> dict:
    return dict(TINY)


@pytest.fixture(scope="session")
def replicate_args() -> dict:
    """Index, seed and L of the shared non-centred replicate."""
    return {"replicate": REPLICATE_INDEX, "seed": REPLICATE_SEED, "rank_draws": RANK_DRAWS}


@pytest.fixture(scope="session")
def tiny_design():
    """3 groups x 5 points: small enough to compile and sample in seconds."""
    return seed_design(n_groups=3, n_points=5, seed=1234)


@pytest.fixture(scope="session")
def noncentered_model(tiny_design):
    return hierarchical_noncentered(tiny_design)


@pytest.fixture(scope="session")
def noncentered_simulation(noncentered_model):
    return simulate(noncentered_model, seed=2024)


@pytest.fixture(scope="session")
def noncentered_replicate(noncentered_model):
    """One replicate end to end (simulate, fit, rank, diagnose) of the non-centred model."""
    return run_replicate(
        noncentered_model, REPLICATE_INDEX, REPLICATE_SEED, dict(TINY), rank_draws=RANK_DRAWS
    )  # keep in step with replicate_args


@pytest.fixture(scope="session")
def centered_model(tiny_design):
    return hierarchical_centered(tiny_design)


@pytest.fixture(scope="session")
def centered_simulation(centered_model):
    return simulate(centered_model, seed=77)


@pytest.fixture(scope="session")
def centered_fit(centered_model, centered_simulation):
    """One tiny posterior fit of the centred model on data simulated from its prior."""
    return fit(centered_model, centered_simulation.data, seed=11, **TINY)


@pytest.fixture(scope="session")
def tiny_campaign(tmp_path_factory):
    """(params file, campaign folder) of the session's tiny real campaign (``campaigns.py``): read
    only; copy it to change it."""
    params, out, run = campaigns.tiny_campaign(tmp_path_factory)
    assert run.returncode == 0, run.stderr[-3000:]
    return params, out
