"""The fit's diagnostics and the posterior summary are ArviZ's numbers, computed on stacked scalars."""

import arviz_stats
import numpy as np
import pytest
import xarray as xr

from sbc_helpers.contract import MEASURED
from sbc_helpers.inference import Fit
from sbc_helpers.run.steps import posterior_vs_truth
from sbc_helpers.simulation.prior import Simulation
from sbc_helpers.stats.diagnostics import fit_diagnostics, scalar_draws


def _idata(seed: int = 0, chains: int = 3, draws: int = 400) -> xr.DataTree:
    """Autocorrelated draws of a scalar, a vector with coordinates and a matrix, with energies."""
    rng = np.random.default_rng(seed)

    def ar1(*shape):
        x = np.zeros((chains, draws, *shape))
        noise = rng.normal(size=x.shape)
        for t in range(1, draws):
            x[:, t] = 0.8 * x[:, t - 1] + noise[:, t]
        return x + rng.normal(size=(chains, 1, *shape))  # chains that disagree a little: R-hat above 1

    posterior = xr.Dataset(
        {"mu": (("chain", "draw"), ar1()), "alpha": (("chain", "draw", "group"), ar1(3)),
         "b": (("chain", "draw", "b_dim_0", "b_dim_1"), ar1(2, 2))},
        coords={"group": ["A", "B", "C"]})
    stats = xr.Dataset({"energy": (("chain", "draw"), ar1()), "diverging": (("chain", "draw"), rng.random((chains, draws)) < 0.01)})
    return xr.DataTree.from_dict({"posterior": posterior, "sample_stats": stats})


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_diagnostics_equal_arviz_on_the_dataset(seed):
    idata = _idata(seed)
    names = ["mu", "alpha", "b"]
    posterior = idata["posterior"].to_dataset()
    got = fit_diagnostics(idata, names)
    assert got["max_rhat"] == pytest.approx(float(arviz_stats.rhat(posterior).to_array().max()), rel=1e-12)
    assert got["min_ess_bulk"] == pytest.approx(float(arviz_stats.ess(posterior, method="bulk").to_array().min()), rel=1e-12)
    assert got["min_ess_tail"] == pytest.approx(float(arviz_stats.ess(posterior, method="tail").to_array().min()), rel=1e-12)
    bfmi = arviz_stats.bfmi(idata["sample_stats"].to_dataset())["energy"]
    assert got["min_bfmi"] == pytest.approx(float(np.min(bfmi)), rel=1e-12)
    assert got["divergences"] == int(idata["sample_stats"]["diverging"].sum())
    assert got["max_rhat"] > 1.01  # the disagreeing chains are seen
    assert list(got) == MEASURED  # what contract.DIAGNOSTICS declares, no more


def test_scalar_draws_are_labelled_like_the_ranks():
    labels, draws = scalar_draws(_idata()["posterior"].to_dataset(), ["alpha", "b"])
    assert labels == ["alpha[A]", "alpha[B]", "alpha[C]", "b[0, 0]", "b[0, 1]", "b[1, 0]", "b[1, 1]"]
    assert draws.shape == (7, 3, 400)
    posterior = _idata()["posterior"]
    np.testing.assert_array_equal(draws[1], posterior["alpha"].sel(group="B").to_numpy())
    np.testing.assert_array_equal(draws[5], posterior["b"].isel(b_dim_0=1, b_dim_1=0).to_numpy())


def test_a_constant_quantity_leaves_the_others_r_hat_to_judge_the_fit():
    # a correlation matrix's diagonal is constant: no R-hat of its own, as ArviZ gives (NaN); the
    # fit's largest R-hat is the other quantities', not NaN (which no threshold would flag)
    idata = _idata(1)
    posterior = idata["posterior"].to_dataset().assign(one=(("chain", "draw"), np.ones((3, 400))))
    idata = xr.DataTree.from_dict({"posterior": posterior, "sample_stats": idata["sample_stats"].to_dataset()})
    got = fit_diagnostics(idata, ["mu", "one"])
    assert got["max_rhat"] == pytest.approx(float(arviz_stats.rhat(posterior["mu"])), rel=1e-12)
    assert got["max_rhat"] > 1.01


def test_chains_stuck_at_two_values_give_arviz_huge_r_hat():
    # half the draws stuck at 0, half at 1: the folded draws are constant, yet the fit did not mix
    idata = _idata(1)
    stuck = np.zeros((3, 400))
    stuck[1, 200:], stuck[2] = 1.0, 1.0
    posterior = idata["posterior"].to_dataset().assign(stuck=(("chain", "draw"), stuck))
    idata = xr.DataTree.from_dict({"posterior": posterior, "sample_stats": idata["sample_stats"].to_dataset()})
    got = fit_diagnostics(idata, ["mu", "stuck"])
    assert got["max_rhat"] == pytest.approx(float(arviz_stats.rhat(posterior["stuck"])), rel=1e-10)
    assert got["max_rhat"] > 1e6


def test_independent_draws_have_no_rhat_or_ess():
    got = fit_diagnostics(_idata(), ["mu"], independent=True)
    assert np.isnan(got["max_rhat"]) and np.isnan(got["min_ess_bulk"]) and np.isnan(got["min_ess_tail"])


def test_posterior_summary_equals_arviz_summary():
    idata = _idata(4)
    names = ["mu", "alpha", "b"]
    truth = xr.Dataset({"mu": 0.5, "alpha": (("group",), [1.0, 2.0, 3.0]), "b": (("b_dim_0", "b_dim_1"), [[4.0, 5.0], [6.0, 7.0]])},
                       coords={"group": ["A", "B", "C"]})
    table = posterior_vs_truth(Fit(idata=idata, seconds=0.0), Simulation(truth=truth, data={}), names)
    expected = arviz_stats.summary(idata, var_names=names, kind="stats", round_to="none")
    assert list(table.index) == list(expected.index)
    assert list(table.columns) == [*expected.columns, "true"]
    np.testing.assert_allclose(table[expected.columns].to_numpy(), expected.to_numpy(), rtol=1e-12, atol=1e-14)
    assert table.loc["alpha[B]", "true"] == 2.0 and table.loc["b[1, 0]", "true"] == 6.0
