import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from sbc_helpers.designs import seed_design
from sbc_helpers.models import hierarchical_noncentered
from sbc_helpers.replicate import (
    DRAWS_FILE,
    RANKS_FILE,
    RECORD_FILE,
    ReplicateResult,
    default_quantities,
    read_sidecars,
    run_replicate,
    summarize,
    write_sidecars,
)
from sbc_helpers.simulate import Simulation

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
    assert sorted(ranks["quantity"]) == sorted(_scalar_names(NONCENTERED_QUANTITIES))
    assert set(ranks["variable"]) == set(NONCENTERED_QUANTITIES)
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


def test_run_replicate_draws_table(noncentered_replicate, replicate_args):
    n_rank = replicate_args["rank_draws"]
    draws = noncentered_replicate.draws
    assert draws.shape == (n_rank, len(noncentered_replicate.ranks))
    assert list(draws.columns) == list(noncentered_replicate.ranks["quantity"])
    # ranks can be recomputed from the thinned draws (continuous draws: no ties)
    for _, row in noncentered_replicate.ranks.iterrows():
        assert row["rank"] == int((draws[row["quantity"]] < row["true_value"]).sum())


def test_run_replicate_record(noncentered_replicate, replicate_args):
    index, seed = replicate_args["replicate"], replicate_args["seed"]
    n_rank = replicate_args["rank_draws"]
    record = noncentered_replicate.record
    assert record["replicate"] == index
    assert record["seed"] == seed
    assert record["status"] == "ok"
    assert record["rank_draws"] == n_rank
    assert isinstance(record["divergences"], int) and 0 <= record["divergences"] <= 200
    assert np.isfinite(record["max_rhat"]) and record["max_rhat"] > 0.9
    assert 0 < record["min_ess_bulk"] <= 10 * 200
    assert record["seconds"] > 0
    json.dumps(record)  # the record is written as JSON


def test_run_replicate_is_reproducible_from_its_seed(
    noncentered_replicate, noncentered_model, tiny_settings, replicate_args
):
    again = run_replicate(noncentered_model, replicate_args["replicate"], replicate_args["seed"],
                          tiny_settings, rank_draws=replicate_args["rank_draws"])
    pd.testing.assert_frame_equal(again.ranks, noncentered_replicate.ranks)
    pd.testing.assert_frame_equal(again.draws, noncentered_replicate.draws)
    for key in ("divergences", "max_rhat", "min_ess_bulk", "min_ess_tail"):
        assert again.record[key] == noncentered_replicate.record[key]


def test_sidecars_round_trip(noncentered_replicate, tmp_path):
    out = tmp_path / "replicate-0003"
    write_sidecars(noncentered_replicate, out)
    assert {p.name for p in out.iterdir()} == {RANKS_FILE, DRAWS_FILE, RECORD_FILE}
    back = read_sidecars(out)
    pd.testing.assert_frame_equal(back.ranks, noncentered_replicate.ranks)
    pd.testing.assert_frame_equal(back.draws, noncentered_replicate.draws)
    assert back.record == pytest.approx(noncentered_replicate.record, nan_ok=True)


def test_sidecars_write_numpy_scalars_as_plain_json(tmp_path):
    result = ReplicateResult(
        ranks=pd.DataFrame({"replicate": [0], "quantity": ["mu"], "rank": [3]}),
        draws=pd.DataFrame({"mu": [0.1, 0.2]}),
        record={"replicate": np.int64(0), "max_rhat": np.float32(1.25), "ok": np.bool_(True),
                "min_bfmi": float("nan")},
    )
    write_sidecars(result, tmp_path)
    record = read_sidecars(tmp_path).record
    assert record["replicate"] == 0 and type(record["replicate"]) is int
    assert record["max_rhat"] == 1.25
    assert record["ok"] is True
    assert np.isnan(record["min_bfmi"])


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


def test_summarize_ranks_only_the_requested_quantities(centered_fit, centered_simulation):
    result = summarize(replicate=9, seed=42, simulation=centered_simulation, fitted=centered_fit,
                       quantities=["sigma", "alpha"], rank_draws=25)
    assert list(result.ranks["quantity"]) == ["sigma", "alpha[A]", "alpha[B]", "alpha[C]"]
    assert (result.ranks["replicate"] == 9).all()
    assert (result.ranks["max_rank"] == 25).all()
    assert result.draws.shape == (25, 4)
    truth = centered_simulation.truth
    row = result.ranks.set_index("quantity")
    assert row.loc["sigma", "true_value"] == pytest.approx(float(truth["sigma"]))
    assert row.loc["alpha[B]", "true_value"] == pytest.approx(float(truth["alpha"].sel(group="B")))
    assert result.record["seed"] == 42 and result.record["rank_draws"] == 25
    assert result.record["seconds"] == centered_fit.seconds


def test_summarize_rejects_more_rank_draws_than_posterior_draws(centered_fit, centered_simulation):
    with pytest.raises(ValueError, match="L=201"):
        summarize(0, 1, centered_simulation, centered_fit, ["sigma"], rank_draws=201)
