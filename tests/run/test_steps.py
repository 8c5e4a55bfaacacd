from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import pymc as pm
import xarray as xr
from scipy import stats

from sbc_helpers.stats.calibrate import calibration_table
from sbc_helpers.models.designs import group_codes, seed_design
from sbc_helpers.inference import fit
from sbc_helpers.models.library import hierarchical_noncentered
from sbc_helpers.stats.quantities import QuantityError, derived
from sbc_helpers.stats.ranks import thin
from sbc_helpers.contract import (SIDE_CARS, Record, ReplicateResult, archive_bytes, read_archive, read_truth,
                                  unpack)
from sbc_helpers.run.steps import default_quantities, rank, ranks_from_archive, run_replicate
from sbc_helpers.simulation.prior import Simulation

RANK_COLUMNS = ["replicate", "quantity", "variable", "rank", "max_rank", "true_value", "post_mean",
                "post_sd"]
NONCENTERED_QUANTITIES = [
    "mu_alpha", "sigma_alpha", "mu_beta", "sigma_beta", "z_alpha", "z_beta", "sigma", "alpha", "beta",
]


def _scalar_names(variables, groups=("A", "B", "C")):
    vector = {"z_alpha", "z_beta", "alpha", "beta"}
    return [f"{v}[{g}]" for v in variables if v in vector for g in groups] + [
        v for v in variables if v not in vector
    ]


def test_run_replicate_ranks_table(noncentered_replicate, replicate_args):
    index, n_rank = replicate_args["replicate"], replicate_args["rank_draws"]
    ranks = noncentered_replicate.ranks
    assert list(ranks.columns) == RANK_COLUMNS
    assert (ranks["replicate"] == index).all()
    # the parameters, then the data log-likelihood (log_likelihood=True by default)
    assert sorted(ranks["quantity"]) == sorted([*_scalar_names(NONCENTERED_QUANTITIES), "log_lik"])
    assert ranks["quantity"].iloc[-1] == "log_lik"
    assert set(ranks["variable"]) == {*NONCENTERED_QUANTITIES, "log_lik"}
    assert (ranks["max_rank"] == n_rank).all()
    assert ranks["rank"].between(0, n_rank).all()
    assert np.isfinite(ranks[["true_value", "post_mean", "post_sd"]].to_numpy()).all()
    assert (ranks["post_sd"] > 0).all()
    assert not ranks["quantity"].str.startswith("mu[").any()  # per-observation mean not ranked


def test_run_replicate_truth_is_consistent_with_the_model(noncentered_replicate):
    t = noncentered_replicate.ranks.set_index("quantity")["true_value"]
    for g in "ABC":
        assert t[f"alpha[{g}]"] == pytest.approx(t["mu_alpha"] + t["sigma_alpha"] * t[f"z_alpha[{g}]"])
    assert (t[["sigma", "sigma_alpha", "sigma_beta"]] > 0).all()


def test_run_replicate_archive_holds_kept_draws_truth_and_data(
    noncentered_replicate, noncentered_model, replicate_args
):
    n_rank = replicate_args["rank_draws"]
    archived = noncentered_replicate.archive
    draws, truth, data = unpack(archived)
    # keep_draws=0 keeps L draws of every ranked and free variable (here the same set), no chains
    assert sorted(draws.data_vars) == sorted(NONCENTERED_QUANTITIES)
    assert dict(draws.sizes) == {"draw": n_rank, "group": 3}
    assert "chain" not in archived.dims
    assert sorted(truth.data_vars) == sorted(NONCENTERED_QUANTITIES)
    assert all(v.startswith(("true__", "data__")) or v in NONCENTERED_QUANTITIES for v in archived.data_vars)
    assert list(data) == ["y"] and data["y"].shape == (len(noncentered_model.coords["obs"]),)
    # the archived truth and kept draws are what the ranks were computed from
    t = noncentered_replicate.ranks.set_index("quantity")
    assert float(truth["sigma"]) == pytest.approx(t.loc["sigma", "true_value"])
    assert float(truth["alpha"].sel(group="B")) == pytest.approx(t.loc["alpha[B]", "true_value"])
    assert float(draws["sigma"].mean()) == pytest.approx(t.loc["sigma", "post_mean"])
    # continuous draws have no ties: each rank is the count of kept draws below the truth
    assert t.loc["sigma", "rank"] == int((draws["sigma"] < truth["sigma"]).sum())
    for g in "ABC":
        below = draws["z_beta"].sel(group=g) < truth["z_beta"].sel(group=g)
        assert t.loc[f"z_beta[{g}]", "rank"] == int(below.sum())


def test_ranks_recomputed_from_the_archive_equal_the_run_time_ranks(
    noncentered_replicate, noncentered_model, replicate_args
):
    """The recompute guarantee: ranks from the archive, written and read back, equal the ranks."""
    archived = read_archive(archive_bytes(noncentered_replicate.archive))
    xr.testing.assert_identical(archived, noncentered_replicate.archive)
    ranks = ranks_from_archive(archived, NONCENTERED_QUANTITIES, replicate_args["rank_draws"],
                               replicate_args["seed"], model=noncentered_model)
    expected = noncentered_replicate.ranks.drop(columns="replicate")
    pd.testing.assert_frame_equal(ranks, expected)
    # without the model there is no log-likelihood to rank
    no_lik = ranks_from_archive(archived, NONCENTERED_QUANTITIES, replicate_args["rank_draws"],
                                replicate_args["seed"])
    pd.testing.assert_frame_equal(no_lik, expected.iloc[:-1])


def test_log_lik_truth_is_the_data_log_likelihood_at_the_true_values(noncentered_replicate, tiny_design):
    # independent of PyMC: y ~ Normal(alpha[g] + beta[g] * x, sigma)
    draws, truth, data = unpack(noncentered_replicate.archive)
    idx, _ = group_codes(tiny_design)
    x = tiny_design["x"].to_numpy()

    def log_lik(alpha, beta, sigma):
        return stats.norm.logpdf(data["y"], alpha[idx] + beta[idx] * x, sigma).sum()

    row = noncentered_replicate.ranks.set_index("quantity").loc["log_lik"]
    expected = log_lik(truth["alpha"].to_numpy(), truth["beta"].to_numpy(), float(truth["sigma"]))
    assert row["true_value"] == pytest.approx(expected, rel=1e-9)
    per_draw = [log_lik(draws["alpha"].isel(draw=i).to_numpy(), draws["beta"].isel(draw=i).to_numpy(),
                        float(draws["sigma"].isel(draw=i))) for i in range(draws.sizes["draw"])]
    assert row["post_mean"] == pytest.approx(np.mean(per_draw), rel=1e-9)
    assert row["rank"] == int((np.array(per_draw) < expected).sum())
    assert row["variable"] == "log_lik" and row["max_rank"] == draws.sizes["draw"]


def test_run_replicate_record(noncentered_replicate, replicate_args):
    index, seed = replicate_args["replicate"], replicate_args["seed"]
    n_rank = replicate_args["rank_draws"]
    record = noncentered_replicate.record
    assert record.replicate == index
    assert record.seed == seed
    assert record.status == "ok"
    assert record.rank_draws == n_rank
    assert record.kept_draws == n_rank  # keep_draws=0 keeps L
    assert isinstance(record.divergences, int) and 0 <= record.divergences <= 200
    assert np.isfinite(record.max_rhat) and record.max_rhat > 0.9
    assert 0 < record.min_ess_bulk <= 10 * 200
    assert record.seconds > 0
    Record.from_json(record.to_json())  # the record round-trips through JSON


def test_run_replicate_is_reproducible_from_its_seed(
    noncentered_replicate, noncentered_model, tiny_settings, replicate_args
):
    again = run_replicate(noncentered_model, replicate_args["replicate"], replicate_args["seed"],
                          tiny_settings, rank_draws=replicate_args["rank_draws"])
    pd.testing.assert_frame_equal(again.ranks, noncentered_replicate.ranks)
    xr.testing.assert_identical(again.archive, noncentered_replicate.archive)
    for key in ("divergences", "max_rhat", "min_ess_bulk", "min_ess_tail"):
        assert getattr(again.record, key) == getattr(noncentered_replicate.record, key)


def test_sidecars_round_trip(noncentered_replicate, tmp_path):
    out = tmp_path / "replicate-0003"
    noncentered_replicate.write(out)
    # the truth side-car is written before the fit, by steps.record_truth; the result writes the rest
    assert {p.name for p in out.iterdir()} == {v for k, v in SIDE_CARS.items() if k != "truth"}
    back = ReplicateResult.read(out)
    pd.testing.assert_frame_equal(back.ranks, noncentered_replicate.ranks)
    xr.testing.assert_identical(back.archive, noncentered_replicate.archive)
    assert (out / SIDE_CARS["draws"]).read_bytes()[:3] == b"CDF"  # netCDF-3 (SciPy), no HDF5 needed
    assert back.record == noncentered_replicate.record


def test_a_record_takes_numpy_scalars_and_writes_nan_as_null(tmp_path):
    record = Record.ok(np.int64(0), 5, {"max_rhat": np.float32(1.25), "divergences": np.int64(2),
                                        "min_ess_bulk": 80.0, "min_ess_tail": 120.0, "min_bfmi": float("nan")})
    back = Record.from_json(record.to_json())
    assert back.replicate == 0 and type(back.replicate) is int
    assert back.max_rhat == 1.25 and back.divergences == 2
    assert back.min_ess == 80.0  # the smaller of bulk and tail ESS
    assert back.min_bfmi is None  # NaN is written as JSON null


def test_default_quantities_exclude_per_observation_deterministics(
    noncentered_model, noncentered_simulation
):
    quantities = default_quantities(noncentered_model, noncentered_simulation)
    assert "mu" not in quantities
    assert {"alpha", "beta"} <= set(quantities)
    assert sorted(quantities) == sorted(NONCENTERED_QUANTITIES)


def test_default_quantities_of_centered_model_are_its_free_rvs(centered_model, centered_simulation):
    quantities = default_quantities(centered_model, centered_simulation)
    assert sorted(quantities) == sorted(
        ["mu_alpha", "sigma_alpha", "mu_beta", "sigma_beta", "alpha", "beta", "sigma"]
    )


def _fake_simulation(model, n_obs: int, n_groups: int) -> Simulation:
    # default_quantities reads only shapes, so zeros of the right shape stand in for a prior draw
    shapes = {"alpha": (n_groups,), "beta": (n_groups,), "mu": (n_obs,)}
    truth = xr.Dataset({name: (tuple(f"d{i}_{name}" for i in range(len(s))), np.zeros(s))
                        for name, s in shapes.items()})
    return Simulation(truth=truth, data={"y": np.zeros(n_obs)})


def test_default_quantities_keep_group_level_deterministics_with_one_point_per_group():
    design = seed_design(n_groups=4, n_points=1)
    model = hierarchical_noncentered(design)
    quantities = default_quantities(model, _fake_simulation(model, n_obs=4, n_groups=4))
    assert "mu" not in quantities
    assert {"alpha", "beta"} <= set(quantities)


def test_default_quantities_shape_rule_with_more_rows_than_groups():
    # the passing counterpart of the test above: same model, 2 points per group
    design = seed_design(n_groups=4, n_points=2)
    model = hierarchical_noncentered(design)
    quantities = default_quantities(model, _fake_simulation(model, n_obs=8, n_groups=4))
    assert {"alpha", "beta"} <= set(quantities)
    assert "mu" not in quantities


def test_summarize_ranks_only_the_requested_quantities(centered_model, centered_fit, centered_simulation):
    result = rank(replicate=9, seed=42, model=centered_model, simulation=centered_simulation,
                       fitted=centered_fit, quantities=["sigma", "alpha"], rank_draws=25, log_likelihood=False)
    assert list(result.ranks["quantity"]) == ["sigma", "alpha[A]", "alpha[B]", "alpha[C]"]
    assert (result.ranks["replicate"] == 9).all()
    assert (result.ranks["max_rank"] == 25).all()
    # the archive keeps the ranked variables and every free variable, 25 draws each
    draws, truth, data = unpack(result.archive)
    assert list(draws.data_vars)[:2] == ["sigma", "alpha"]
    assert set(draws.data_vars) == {"sigma", "alpha", "mu_alpha", "sigma_alpha", "mu_beta", "sigma_beta", "beta"}
    assert draws.sizes["draw"] == 25
    np.testing.assert_array_equal(data["y"], centered_simulation.data["y"])
    truth = centered_simulation.truth
    row = result.ranks.set_index("quantity")
    assert row.loc["sigma", "true_value"] == pytest.approx(float(truth["sigma"]))
    assert row.loc["alpha[B]", "true_value"] == pytest.approx(float(truth["alpha"].sel(group="B")))
    assert result.record.seed == 42 and result.record.rank_draws == 25
    assert result.record.kept_draws == 25
    assert result.record.seconds == centered_fit.seconds


def test_summarize_adds_the_log_likelihood_by_default(centered_model, centered_fit, centered_simulation):
    result = rank(9, 42, centered_model, centered_simulation, centered_fit, ["sigma"], rank_draws=25)
    assert list(result.ranks["quantity"]) == ["sigma", "log_lik"]
    assert "log_lik" not in result.archive  # recomputed from the kept draws and data, not stored


def test_summarize_rejects_more_rank_draws_than_posterior_draws(centered_model, centered_fit, centered_simulation):
    with pytest.raises(ValueError, match="L=201"):
        rank(0, 1, centered_model, centered_simulation, centered_fit, ["sigma"], rank_draws=201)
    with pytest.raises(ValueError, match="L=300"):
        rank(0, 1, centered_model, centered_simulation, centered_fit, ["sigma"], rank_draws=20,
                  keep_draws=300)


# --- keep_draws ---------------------------------------------------------------------------------


def test_keep_draws_beyond_rank_draws_keeps_that_many_and_ranks_still_use_L(
    centered_model, centered_fit, centered_simulation
):
    L, K = 20, 100
    result = rank(5, 77, centered_model, centered_simulation, centered_fit, ["sigma", "alpha"],
                       rank_draws=L, keep_draws=K)
    draws, truth, _ = unpack(result.archive)
    assert draws.sizes["draw"] == K and result.record.kept_draws == K
    assert result.record.rank_draws == L
    assert (result.ranks["max_rank"] == L).all() and result.ranks["rank"].between(0, L).all()
    # kept draws: K evenly spaced draws of the pooled chains
    pooled = centered_fit.idata["posterior"]["sigma"].to_numpy().ravel()
    np.testing.assert_array_equal(draws["sigma"].to_numpy(), pooled[::2])
    # ranks count L evenly spaced draws of the kept ones; the moments use all K
    row = result.ranks.set_index("quantity")
    ranked = thin(draws, L)
    assert ranked.sizes["draw"] == L
    assert row.loc["sigma", "rank"] == int((ranked["sigma"] < truth["sigma"]).sum())
    assert row.loc["alpha[C]", "rank"] == int((ranked["alpha"].sel(group="C") < truth["alpha"].sel(group="C")).sum())
    assert row.loc["sigma", "post_mean"] == pytest.approx(float(draws["sigma"].mean()))
    # a smaller L later, from the same archive, without refitting
    small = ranks_from_archive(read_archive(archive_bytes(result.archive)), ["sigma", "alpha"], 10, 77,
                               model=centered_model)
    assert (small["max_rank"] == 10).all() and small["rank"].between(0, 10).all()
    assert list(small["quantity"]) == [*row.index]
    pd.testing.assert_frame_equal(
        ranks_from_archive(result.archive, ["sigma", "alpha"], L, 77, model=centered_model),
        result.ranks.drop(columns="replicate"),
    )


# --- derived quantities -------------------------------------------------------------------------

EXPRESSIONS = {
    "contrast": "alpha[:, 0] - alpha[:, 1]",  # scalar: one row
    "gap": "alpha - beta",  # vector: one row per element
    "scale": "np.exp(mu_alpha) * sigma",  # mu_alpha is kept (free) though not ranked
}


@pytest.fixture(scope="module")
def derived_result(centered_model, centered_fit, centered_simulation):
    return rank(2, 99, centered_model, centered_simulation, centered_fit, ["sigma", "alpha", "beta"],
                     rank_draws=20, keep_draws=50, derived=EXPRESSIONS)


def test_derived_quantities_are_ranked_after_the_parameters(derived_result):
    quantities = list(derived_result.ranks["quantity"])
    assert quantities[-6:] == ["contrast", "gap[0]", "gap[1]", "gap[2]", "scale", "log_lik"]
    assert quantities[0] == "sigma"
    variables = derived_result.ranks.set_index("quantity")["variable"]
    assert variables["gap[1]"] == "gap" and variables["contrast"] == "contrast"


def test_a_derived_contrast_is_evaluated_on_draws_and_truth(derived_result, centered_simulation):
    truth = centered_simulation.truth
    draws, _, _ = unpack(derived_result.archive)
    row = derived_result.ranks.set_index("quantity")
    alpha = truth["alpha"].to_numpy()
    assert row.loc["contrast", "true_value"] == pytest.approx(alpha[0] - alpha[1])
    assert row.loc["gap[2]", "true_value"] == pytest.approx(alpha[2] - float(truth["beta"][2]))
    assert row.loc["scale", "true_value"] == pytest.approx(np.exp(float(truth["mu_alpha"])) * float(truth["sigma"]))
    kept = draws["alpha"].sel(group="A") - draws["alpha"].sel(group="B")
    assert row.loc["contrast", "post_mean"] == pytest.approx(float(kept.mean()))
    assert row.loc["contrast", "post_sd"] == pytest.approx(float(kept.std(ddof=1)))
    ranked = thin(xr.Dataset({"c": kept}), 20)["c"]
    assert row.loc["contrast", "rank"] == int((ranked < alpha[0] - alpha[1]).sum())


def test_derived_quantities_recompute_from_the_archive(derived_result, centered_model):
    archived = read_archive(archive_bytes(derived_result.archive))
    again = ranks_from_archive(archived, ["sigma", "alpha", "beta"], 20, 99, EXPRESSIONS, centered_model)
    pd.testing.assert_frame_equal(again, derived_result.ranks.drop(columns="replicate"))
    # a quantity added later, from the same archive: the other rows do not change
    more = ranks_from_archive(archived, ["sigma", "alpha", "beta"], 20, 99,
                              {**EXPRESSIONS, "total": "mu_alpha + mu_beta"}, centered_model)
    pd.testing.assert_frame_equal(more[more["quantity"] != "total"].reset_index(drop=True), again)
    assert "total" in set(more["quantity"])


def test_a_bad_expression_raises_quantity_error_naming_the_quantity(centered_model, centered_fit,
                                                                     centered_simulation):
    with pytest.raises(QuantityError, match=r"derived quantity 'bad' = 'alpha\[:, 0\] - nope'.*NameError"):
        rank(0, 1, centered_model, centered_simulation, centered_fit, ["alpha"], rank_draws=20,
                  derived={"fine": "alpha[:, 0]", "bad": "alpha[:, 0] - nope"})
    with pytest.raises(QuantityError, match="'syntax'"):
        rank(0, 1, centered_model, centered_simulation, centered_fit, ["alpha"], rank_draws=20,
                  derived={"syntax": "alpha[:, 0] -"})
    assert issubclass(QuantityError, ValueError)


@pytest.mark.parametrize("expression", ["alpha.mean(axis=0)", "sigma.mean()", "alpha[0]", "np.mean(sigma)"])
def test_an_expression_that_drops_the_draw_axis_raises(centered_model, centered_fit, centered_simulation,
                                                      expression):
    with pytest.raises(QuantityError, match="'dropped'.*draw axis"):
        rank(0, 1, centered_model, centered_simulation, centered_fit, ["alpha", "sigma"], rank_draws=20,
                  derived={"dropped": expression})


def test_derived_evaluates_with_a_draw_axis_on_the_truth_too():
    draws = xr.Dataset({"a": (("draw", "k"), np.arange(12.0).reshape(6, 2))})
    truth = xr.Dataset({"a": (("k",), [10.0, 3.0])})
    d, t = derived(draws, truth, {"diff": "a[:, 0] - a[:, 1]", "both": "a * 2"})
    np.testing.assert_array_equal(d["diff"].to_numpy(), [-1.0] * 6)
    assert d["diff"].dims == ("draw",) and float(t["diff"]) == 7.0
    assert d["both"].dims == ("draw", "both_dim_0")
    np.testing.assert_array_equal(t["both"].to_numpy(), [20.0, 6.0])


# --- exact posteriors: SBC of a conjugate model -------------------------------------------------

N_OBS = 10


def conjugate_model(n: int = N_OBS) -> pm.Model:
    """mu ~ N(0, 1), y_i ~ N(mu, 1): the posterior is N(sum(y) / (n + 1), 1 / (n + 1))."""
    with pm.Model() as model:
        mu = pm.Normal("mu", 0, 1)
        pm.Normal("y", mu, 1, observed=np.zeros(n))
    return model


def _observed(model: pm.Model) -> np.ndarray:
    return np.asarray(model.rvs_to_values[model["y"]].data)


def conjugate_posterior(model, rng, draws):
    """The exact posterior of ``conjugate_model`` conditioned on its data: independent draws."""
    y = _observed(model)
    n = len(y)
    return {"mu": rng.normal(y.sum() / (n + 1), np.sqrt(1 / (n + 1)), size=draws)}


def overconfident_posterior(model, rng, draws):
    """The right mean with half the right standard deviation: too narrow, a U shape of ranks."""
    y = _observed(model)
    n = len(y)
    return {"mu": rng.normal(y.sum() / (n + 1), 0.5 * np.sqrt(1 / (n + 1)), size=draws)}


def prior_posterior(model, rng, draws):
    """The prior, whatever the data: uniform parameter ranks, yet no posterior at all."""
    return {"mu": rng.normal(0, 1, size=draws)}


def gamma_poisson_posterior(model, rng, draws):
    """lam ~ Gamma(2, 1), y_i ~ Poisson(lam): the posterior is Gamma(2 + sum(y), rate 1 + n)."""
    y = _observed(model)
    return {"lam": rng.gamma(2 + y.sum(), 1 / (1 + len(y)), size=draws)}


THIS_FILE = Path(__file__).resolve()  # "file.py:function" references to the functions above


def exact(function: str, draws: int = 20) -> dict:
    return {"method": "exact", "function": f"{THIS_FILE}:{function}", "draws": draws}


@pytest.fixture(scope="module")
def conjugate():
    return conjugate_model()


def test_fit_with_an_exact_posterior_function(conjugate):
    data = {"y": np.linspace(-1, 2, N_OBS)}
    fitted = fit(conjugate, data, seed=3, **exact("conjugate_posterior", draws=4000))
    posterior = fitted.idata["posterior"].to_dataset()
    assert dict(posterior["mu"].sizes) == {"chain": 1, "draw": 4000}
    draws = posterior["mu"].to_numpy().ravel()
    se = np.sqrt(1 / (N_OBS + 1) / 4000)
    assert abs(draws.mean() - data["y"].sum() / (N_OBS + 1)) < 4 * se  # conditioned on the data passed
    assert draws.std() == pytest.approx(np.sqrt(1 / (N_OBS + 1)), rel=0.05)
    again = fit(conjugate, data, seed=3, **exact("conjugate_posterior", draws=4000))
    np.testing.assert_array_equal(again.idata["posterior"]["mu"].to_numpy(), posterior["mu"].to_numpy())


def test_run_replicate_writes_the_truth_and_side_cars_as_the_template_does(conjugate, tmp_path):
    result = run_replicate(conjugate, 0, 123, exact("conjugate_posterior"), rank_draws=20, output_dir=tmp_path)
    assert all((tmp_path / name).is_file() for name in SIDE_CARS.values())
    assert read_truth(tmp_path) == {"mu": float(unpack(result.archive)[1]["mu"])}
    assert ReplicateResult.read(tmp_path).ranks.equals(result.ranks)


def test_run_replicate_with_an_exact_posterior_ranks_mu_and_its_log_likelihood(conjugate):
    result = run_replicate(conjugate, 0, 123, exact("conjugate_posterior"), rank_draws=20)
    assert list(result.ranks["quantity"]) == ["mu", "log_lik"]
    draws, truth, data = unpack(result.archive)
    assert draws.sizes["draw"] == 20
    row = result.ranks.set_index("quantity")
    mu_true, y = float(truth["mu"]), data["y"]
    assert row.loc["log_lik", "true_value"] == pytest.approx(stats.norm.logpdf(y, mu_true, 1).sum(), rel=1e-9)
    per_draw = np.array([stats.norm.logpdf(y, m, 1).sum() for m in draws["mu"].to_numpy()])
    assert row.loc["log_lik", "post_mean"] == pytest.approx(per_draw.mean(), rel=1e-9)
    assert row.loc["log_lik", "rank"] == int((per_draw < row.loc["log_lik", "true_value"]).sum())
    # no sample stats: nothing diverged
    assert result.record.divergences == 0 and result.record.status == "ok"


def _poisson_model() -> pm.Model:
    with pm.Model() as model:
        lam = pm.Gamma("lam", 2, 1)
        pm.Poisson("y", lam, observed=np.zeros(5, dtype=int))
    return model


def test_a_model_with_count_data_runs_without_the_log_likelihood():
    result = run_replicate(_poisson_model(), 0, 7, exact("gamma_poisson_posterior"), rank_draws=20, log_likelihood=False)
    assert list(result.ranks["quantity"]) == ["lam"]
    _, _, data = unpack(result.archive)
    assert np.array_equal(data["y"], np.round(data["y"])) and (data["y"] >= 0).all()


def test_log_lik_of_a_model_with_count_data_is_the_poisson_log_likelihood():
    # the archive stores the data as floats: conditioning must turn whole numbers back into counts
    result = run_replicate(_poisson_model(), 0, 7, exact("gamma_poisson_posterior"), rank_draws=20)
    _, truth, data = unpack(result.archive)
    row = result.ranks.set_index("quantity").loc["log_lik"]
    assert row["true_value"] == pytest.approx(stats.poisson.logpmf(data["y"], float(truth["lam"])).sum())


def _sbc_ranks(model, function: str, replicates: int, seed: int) -> pd.DataFrame:
    return pd.concat(
        [run_replicate(model, r, seed + r, exact(function), rank_draws=20, log_likelihood=False).ranks
         for r in range(replicates)],
        ignore_index=True,
    )


def test_sbc_of_an_exact_posterior_gives_uniform_ranks(conjugate):
    # 200 replicates, L = 20: ~9.5 expected per rank value, so Pearson's chi-square is accurate.
    ranks = _sbc_ranks(conjugate, "conjugate_posterior", 200, seed=1_000)
    assert len(ranks) == 200 and (ranks["quantity"] == "mu").all()
    counts = np.bincount(ranks["rank"], minlength=21)
    assert stats.chisquare(counts).pvalue >= 1e-3
    row = calibration_table(ranks).iloc[0]
    assert row["chi2_p_value"] >= 1e-3 and row["gamma_p_value"] >= 1e-3
    assert bool(row["calibrated"])


def test_sbc_flags_an_overconfident_exact_posterior(conjugate):
    ranks = _sbc_ranks(conjugate, "overconfident_posterior", 100, seed=1_000)
    row = calibration_table(ranks).iloc[0]
    assert row["gamma_p_value"] < 0.01
    assert not bool(row["calibrated"])
    counts = np.bincount(ranks["rank"], minlength=21)
    assert counts[[0, 1, 19, 20]].sum() > 2 * counts[9:13].sum()  # a U shape: too narrow


def test_the_log_likelihood_catches_a_posterior_equal_to_the_prior(conjugate):
    # Modrak et al. (2023): prior draws pass SBC on every parameter (their ranks are uniform by
    # construction), but the data log-likelihood of prior draws sits below the truth's, so its ranks
    # pile up at L. 30 replicates: log_lik costs a compile per replicate, and the effect is huge
    # (too few replicates to say anything about mu, so mu is only compared).
    ranks = pd.concat(
        [run_replicate(conjugate, r, 5_000 + r, exact("prior_posterior"), rank_draws=20).ranks for r in range(30)],
        ignore_index=True,
    )
    table = calibration_table(ranks).set_index("quantity")
    assert table.loc["log_lik", "gamma_p_value"] < 0.01
    assert table.loc["log_lik", "chi2_p_value"] < 1e-3 < table.loc["mu", "chi2_p_value"] and not bool(table.loc["log_lik", "calibrated"])
    assert ranks.loc[ranks["quantity"] == "log_lik", "rank"].mean() > 14  # uniform: 10 +- 1.1


# --- the recompute guarantee through report.recompute, with tied draws --------------------------
