"""One replicate, end to end: simulate, fit, keep draws, rank, diagnose; and its side-car files.

A replicate keeps an *archive* (``draws.nc``): the kept posterior draws of every ranked and free
variable, the true values and the simulated data. Ranks are always computed from the archive, at
run time and by ``sbc report --recompute`` alike, so a new test quantity or a smaller L gives the
same ranks it would have given at run time, without refitting.
"""

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import arviz_stats
import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from sbc_helpers.diagnostics import fit_diagnostics
from sbc_helpers.fit import Fit, fit
from sbc_helpers.quantities import LOG_LIKELIHOOD, derived, log_likelihood
from sbc_helpers.ranks import rank_table, thin
from sbc_helpers.seeds import stream_seeds
from sbc_helpers.sidecars import DRAWS_FILE, RANKS_FILE, RECORD_FILE, collect
from sbc_helpers.simulate import Simulation, simulate

TRUE, DATA = "true__", "data__"


@dataclass
class ReplicateResult:
    """What a replicate hands back: its ranks, its archive, and one record of diagnostics."""

    ranks: pd.DataFrame
    archive: xr.Dataset
    record: dict = field(default_factory=dict)


def default_quantities(model: pm.Model, simulation: Simulation) -> list[str]:
    """Free RVs plus the Deterministics that are not per-observation.

    A Deterministic is per-observation when it shares a named dim with an observed variable, or,
    in a model without dims, when it has an observed variable's shape. Shapes come from the prior
    draw, so nothing is compiled to find them.
    """
    dims = model.named_vars_to_dims
    observed = [rv.name for rv in model.observed_RVs]
    data_dims = {d for name in observed for d in dims.get(name, ()) if d is not None}
    data_shapes = {np.shape(simulation.data[name]) for name in observed if not dims.get(name)}

    def per_observation(name: str) -> bool:
        if data_dims.intersection(dims.get(name, ())):
            return True
        return not dims.get(name) and simulation.truth[name].shape in data_shapes

    free = [rv.name for rv in model.free_RVs]
    return free + [d.name for d in model.deterministics if not per_observation(d.name)]


def archive(model: pm.Model, simulation: Simulation, fitted: Fit, quantities: list[str], keep_draws: int) -> xr.Dataset:
    """Kept (thinned) draws of the ranked and free variables, the true values and the data."""
    names = list(dict.fromkeys([*quantities, *(rv.name for rv in model.free_RVs)]))
    kept = thin(fitted.idata["posterior"].to_dataset()[names], keep_draws)
    truth = simulation.truth[names].rename({n: TRUE + n for n in names})
    data = xr.Dataset({DATA + k: (tuple(f"{DATA}{k}_dim_{i}" for i in range(np.ndim(v))), np.asarray(v, dtype=float))
                       for k, v in simulation.data.items()})
    archived = xr.merge([kept, truth, data], compat="override").drop_attrs()
    # netCDF does not keep variable order; recompute needs the run-time order (ties share one stream)
    archived.attrs["quantities"] = json.dumps(list(quantities))
    return archived


def archived_quantities(archived: xr.Dataset) -> list[str]:
    """The quantities ranked at run time, in their run-time order."""
    if "quantities" in archived.attrs:
        return json.loads(archived.attrs["quantities"])
    return [str(n) for n in archived.data_vars if not str(n).startswith((TRUE, DATA))]


def unpack(archived: xr.Dataset) -> tuple[xr.Dataset, xr.Dataset, dict[str, np.ndarray]]:
    """Split an archive into kept draws, true values and simulated data."""
    names = [str(n) for n in archived.data_vars]
    draws = archived[[n for n in names if not n.startswith((TRUE, DATA))]]
    truth = archived[[n for n in names if n.startswith(TRUE)]].rename({n: n[len(TRUE):] for n in names if n.startswith(TRUE)})
    data = {n[len(DATA):]: archived[n].to_numpy() for n in names if n.startswith(DATA)}
    return draws, truth, data


def ranks_from_archive(
    archived: xr.Dataset,
    quantities: list[str],
    rank_draws: int,
    seed: int,
    expressions: dict[str, str] | None = None,
    model: pm.Model | None = None,
) -> pd.DataFrame:
    """Rank the quantities, derived expressions and (given the model) the data log-likelihood."""
    draws, truth, data = unpack(archived)
    test_draws, test_truth = [draws[quantities]], [truth[quantities]]
    if expressions:
        d, t = derived(draws, truth, expressions)
        test_draws.append(d)
        test_truth.append(t)
    if model is not None:
        d, t = log_likelihood(model, data, draws, truth)
        test_draws.append(d)
        test_truth.append(t)
    return rank_table(xr.merge(test_draws, compat="override"), xr.merge(test_truth, compat="override"),
                      rank_draws, stream_seeds(seed)["rank"])


def summarize(
    replicate: int,
    seed: int,
    model: pm.Model,
    simulation: Simulation,
    fitted: Fit,
    quantities: list[str],
    rank_draws: int,
    keep_draws: int = 0,
    expressions: dict[str, str] | None = None,
    log_lik: bool = True,
) -> ReplicateResult:
    """Archive the kept draws, rank every test quantity and record the fit's diagnostics."""
    archived = archive(model, simulation, fitted, quantities, keep_draws or rank_draws)
    ranks = ranks_from_archive(archived, quantities, rank_draws, seed, expressions, model if log_lik else None)
    ranks.insert(0, "replicate", replicate)
    posterior = fitted.idata["posterior"].to_dataset()
    diagnostics = fit_diagnostics(fitted.idata, [q for q in quantities if q in posterior])
    record = {"replicate": replicate, "seed": seed, "status": "ok", **diagnostics,
              "seconds": fitted.seconds, "rank_draws": rank_draws, "kept_draws": int(archived.sizes["draw"])}
    return ReplicateResult(ranks=ranks, archive=archived, record=record)


def run_replicate(
    model: pm.Model,
    replicate: int,
    seed: int,
    inference: dict,
    rank_draws: int = 100,
    quantities: list[str] | None = None,
    **options,
) -> ReplicateResult:
    """Simulate from the prior, fit, rank and diagnose, all in this process (tests, benchmarks).

    ``options`` go to ``summarize`` (keep_draws, expressions, log_lik).
    """
    seeds = stream_seeds(seed)
    simulation = simulate(model, seeds["simulate"])
    fitted = fit(model, simulation.data, seed=seeds["fit"], **inference)
    ranked = quantities or default_quantities(model, simulation)
    return summarize(replicate, seed, model, simulation, fitted, ranked, rank_draws, **options)


def archive_bytes(archived: xr.Dataset) -> bytes:
    """The archive as netCDF-3 bytes (SciPy's writer: no HDF5 library needed)."""
    return bytes(archived.to_netcdf(engine="scipy"))


def read_archive(source: Path | bytes) -> xr.Dataset:
    raw = source if isinstance(source, bytes) else Path(source).read_bytes()
    return xr.open_dataset(io.BytesIO(raw), engine="scipy").load()


def write_sidecars(result: ReplicateResult, output_dir: Path | str) -> None:
    """Write a replicate's ranks, archive and record next to its notebook."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    result.ranks.to_parquet(out / RANKS_FILE, index=False)
    (out / DRAWS_FILE).write_bytes(archive_bytes(result.archive))
    (out / RECORD_FILE).write_text(json.dumps(result.record, default=_jsonable, indent=1))


def read_sidecars(output_dir: Path | str) -> ReplicateResult:
    """Read what ``write_sidecars`` wrote, the archive parsed."""
    made = collect(output_dir)
    return ReplicateResult(ranks=made["ranks"], archive=read_archive(made["draws"]), record=made["record"])


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def posterior_vs_truth(fitted: Fit, simulation: Simulation, var_names: list[str]) -> pd.DataFrame:
    """ArviZ's posterior summary of ``var_names`` with the true (simulated) values beside it."""
    table = arviz_stats.summary(fitted.idata, var_names=var_names, kind="stats", round_to="none")
    truth = {}
    for name in var_names:
        values = np.atleast_1d(simulation.truth[name].to_numpy()).ravel()
        labels = [label for label in table.index if label == name or label.startswith(f"{name}[")]
        truth.update(dict(zip(labels, values, strict=True)))
    return table.assign(true=pd.Series(truth))
