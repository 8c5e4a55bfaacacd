"""Posterior SBC's replicate: the true values come from the reference posterior, each replicate's
its own draw of it, the data keep the observed rows, and the log-likelihood quantity covers the
simulated rows alone."""

from pathlib import Path

import numpy as np
import pandas as pd
import pymc as pm
import pytest
import xarray as xr
from scipy import stats
from scipy.signal import lfilter

import clinics
from sbc_helpers.errors import ParamsError
from sbc_helpers.models.references import load_function
from sbc_helpers.run.steps import data_log_likelihood
from sbc_helpers.simulation import conditioning
from sbc_helpers.simulation.conditioning import Conditioning

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "posterior"
growth, level = (load_function(f"{EXAMPLE}/models.py:{name}") for name in ("growth", "level"))
OBSERVED = np.array([0.3, 1.2, -0.4, 0.9])


def _conditioning(model, rows=4, draws=500, seed=0):
    rng = np.random.default_rng(seed)
    reference = xr.Dataset({"mu": (("draw",), rng.normal(0.5, 0.4, draws))})
    return Conditioning(observed={"reading": OBSERVED}, rows=rows, design=pd.DataFrame({"r": range(2 * rows)}),
                        reference=reference, source="readings.csv")


def test_a_draw_keeps_the_observed_rows_and_takes_its_truth_from_the_reference():
    model = level(pd.DataFrame({"r": range(8)}))
    cond = _conditioning(model)
    first, again, other = (conditioning.draw(model, cond, r, s) for r, s in ((2, 5), (2, 5), (3, 6)))
    np.testing.assert_array_equal(first.data["reading"][:4], OBSERVED)
    assert first.conditioning_rows == 4 and first.data["reading"].shape == (8,)
    assert float(first.truth["mu"]) == float(cond.reference["mu"][2])
    np.testing.assert_array_equal(first.data["reading"], again.data["reading"])
    assert float(first.truth["mu"]) != float(other.truth["mu"])


def test_each_replicate_takes_its_own_draw_and_none_beyond_the_reference():
    model = level(pd.DataFrame({"r": range(8)}))
    cond = _conditioning(model, draws=50)
    truths = [float(conditioning.draw(model, cond, r, 100 + r).truth["mu"]) for r in range(50)]
    np.testing.assert_array_equal(truths, cond.reference["mu"].to_numpy())  # without replacement
    np.testing.assert_array_equal(conditioning.true_values(cond.reference, np.arange(50))["mu"], truths)
    with pytest.raises(ParamsError, match="replicate 50 needs its own true values.*holds 50 independent draws"):
        conditioning.draw(model, cond, 50, 1)


def _ar_chains(rho: float, chains: int, draws: int, seed: int) -> xr.Dataset:
    """AR(1) chains started in their stationary law N(0, 1): every draw N(0, 1), autocorrelated."""
    noise = np.random.default_rng(seed).normal(size=(chains, draws))
    noise[:, 0] /= np.sqrt(1 - rho**2)
    values = np.sqrt(1 - rho**2) * lfilter([1], [1, -rho], noise, axis=-1)
    return xr.Dataset({"mu": (("chain", "draw"), values), "b": (("chain", "draw", "k"), np.stack([values, -values], -1))})


def test_the_reference_ess_is_the_smallest_of_bulk_and_tail_over_scalars():
    chains = _ar_chains(0.8, 4, 5000, 0)
    ess = conditioning.effective_size(chains, independent=False)
    assert 0.8 * 20000 / 9 < ess < 1.2 * 20000 / 9  # AR(0.8): ESS = draws (1 - rho) / (1 + rho)
    assert conditioning.effective_size(chains, independent=True) == 20000


def test_reference_draws_are_thinned_to_about_their_ess_and_shuffled():
    chains = _ar_chains(0.9, 4, 20000, 1)
    ess = conditioning.effective_size(chains, independent=False)
    kept = conditioning.independent_draws(chains, ess, seed=3)
    step = int(80000 // ess)
    assert ess <= kept.sizes["draw"] <= 80000 / step + 4 and kept["b"].dims == ("draw", "k")
    thinned = chains["mu"].to_numpy()[:, ::step].ravel()
    np.testing.assert_array_equal(np.sort(kept["mu"].to_numpy()), np.sort(thinned))  # each kept draw once
    # every step-th draw: lag-1 correlation rho^step, near 0 (0.9 at every draw); then shuffled
    mu = chains["mu"].to_numpy()[:, ::step]
    assert abs(np.corrcoef(mu[:, :-1].ravel(), mu[:, 1:].ravel())[0, 1] - 0.9**step) < 0.05
    assert abs(np.corrcoef(kept["mu"][:-1], kept["mu"][1:])[0, 1]) < 3 / np.sqrt(kept.sizes["draw"])
    again = conditioning.independent_draws(chains, ess, seed=3)
    np.testing.assert_array_equal(kept["mu"], again["mu"])


def test_the_simulated_rows_come_from_the_drawn_truth():
    model = level(pd.DataFrame({"r": range(4 + 400)}))
    cond = _conditioning(model)
    simulation = conditioning.draw(model, cond, 0, 3)
    new = simulation.data["reading"][4:]
    mu = float(simulation.truth["mu"])
    assert abs(new.mean() - mu) < 4 / np.sqrt(400) and abs(new.std() - 1) < 0.15


def test_the_log_likelihood_quantity_covers_the_simulated_rows_alone():
    model = level(pd.DataFrame({"r": range(8)}))
    data = {"reading": np.arange(8.0) / 4}
    draws = xr.Dataset({"mu": (("draw",), np.array([0.0, 1.0]))})
    truth = xr.Dataset({"mu": ((), 0.5)})
    d, t = data_log_likelihood(model, data, draws, truth, skip_rows=4)
    expected = [stats.norm(mu, 1).logpdf(data["reading"][4:]).sum() for mu in (0.0, 1.0, 0.5)]
    np.testing.assert_allclose([*d["log_lik"].to_numpy(), float(t["log_lik"])], expected)


def test_the_data_file_must_match_the_observed_variables(tmp_path):
    model = growth(pd.DataFrame({"dose": np.zeros(6), "age": np.zeros(6)}))
    table = tmp_path / "heights.csv"
    pd.DataFrame({"weight": np.ones(3)}).to_csv(table, index=False)
    with pytest.raises(ParamsError, match="heights.csv has 3 rows; the design has 6"):
        conditioning.read_observed(table, model, 6)
    with pytest.raises(ParamsError, match="has no column 'height'"):
        conditioning.read_observed(table, model, 3)
    pd.DataFrame({"height": [1.0, np.nan, 2.0]}).to_csv(table, index=False)
    with pytest.raises(ParamsError, match="non-finite"):
        conditioning.read_observed(table, model, 3)
    with pytest.raises(ParamsError, match="data file .* does not exist"):
        conditioning.read_observed(tmp_path / "absent.csv", model, 3)


def test_a_new_design_needs_the_design_columns():
    design = pd.DataFrame({"dose": [1.0], "age": [2.0]})
    assert conditioning.concatenate(design, None).shape == (2, 2)
    with pytest.raises(ParamsError, match="lacks the design's column"):
        conditioning.concatenate(design, pd.DataFrame({"dose": [3.0]}))


def test_the_simulated_rows_of_a_model_with_dims_and_data_come_from_the_drawn_truth():
    # a group-level parameter with dims reads a shared coordinate length: it must still be θ', not a
    # fresh prior draw; checked per clinic against its expectation under θ' over many draws
    observed_design, new_rows = clinics.design(2), 200
    combined = conditioning.concatenate(observed_design, clinics.design(new_rows))
    model = clinics.model(combined)
    observed = np.array([3.1, 2.4, -1.0, -0.2, 0.8, 1.5])
    # θ' from the exact posterior given the observed rows
    reference = clinics.posterior(pm.observe(clinics.model(observed_design), {"visits": observed}),
                                  np.random.default_rng(1), 500)
    cond = Conditioning(observed={"visits": observed}, rows=6, design=combined,
                        reference=xr.Dataset({"a": (("draw", "clinic"), reference["a"])}), source="visits.csv")
    codes = pd.Categorical(combined["clinic"][6:], categories=clinics.CLINICS).codes
    z = []
    for seed in range(30):
        simulation = conditioning.draw(model, cond, seed, seed)  # replicate number seed, its own θ'
        new = simulation.data["visits"][6:]
        means = np.array([new[codes == k].mean() for k in range(len(clinics.CLINICS))])
        z.extend((means - simulation.truth["a"].to_numpy()) / (clinics.NOISE / np.sqrt(new_rows)))
    z = np.asarray(z)
    assert abs(z.mean()) < 4 / np.sqrt(z.size) and abs(z.std() - 1) < 0.3 and np.abs(z).max() < 4.5
