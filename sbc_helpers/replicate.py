"""One replicate, end to end: simulate, fit, rank, diagnose; and its side-car files.

The replicate template runs these steps one cell at a time; ``run_replicate`` chains them for the
in-process path (tests, benchmarks). Both write the same side-car files.
"""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import arviz_stats
import numpy as np
import pandas as pd
import pymc as pm

from sbc_helpers.diagnostics import fit_diagnostics
from sbc_helpers.fit import Fit, fit
from sbc_helpers.ranks import rank_table
from sbc_helpers.seeds import stream_seeds
from sbc_helpers.simulate import Simulation, simulate

RANKS_FILE = "ranks.parquet"
DRAWS_FILE = "draws.parquet"
RECORD_FILE = "replicate.json"


@dataclass
class SamplerSettings:
    """NUTS settings of one fit."""

    sampler: str = "nutpie"
    draws: int = 1000
    tune: int = 1000
    chains: int = 2
    cores: int = 1
    target_accept: float = 0.8


@dataclass
class ReplicateResult:
    """What a replicate hands back: its ranks, thinned draws, and one record of diagnostics."""

    ranks: pd.DataFrame
    draws: pd.DataFrame
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


def summarize(
    replicate: int,
    seed: int,
    simulation: Simulation,
    fitted: Fit,
    quantities: list[str],
    rank_draws: int,
) -> ReplicateResult:
    """Rank every scalar quantity and record the fit's diagnostics."""
    posterior = fitted.idata["posterior"].to_dataset()
    ranks, draws = rank_table(posterior, simulation.truth, quantities, rank_draws, stream_seeds(seed)["rank"])
    ranks.insert(0, "replicate", replicate)
    diagnostics = fit_diagnostics(fitted.idata, [q for q in quantities if q in posterior])
    record = {"replicate": replicate, "seed": seed, "status": "ok", **diagnostics,
              "seconds": fitted.seconds, "rank_draws": rank_draws}
    return ReplicateResult(ranks=ranks, draws=draws, record=record)


def run_replicate(
    model: pm.Model,
    replicate: int,
    seed: int,
    settings: SamplerSettings,
    rank_draws: int = 100,
    quantities: list[str] | None = None,
) -> ReplicateResult:
    """Simulate from the prior, fit, rank and diagnose, all in this process."""
    seeds = stream_seeds(seed)
    simulation = simulate(model, seeds["simulate"])
    fitted = fit(model, simulation.data, seed=seeds["fit"], **asdict(settings))
    ranked = quantities or default_quantities(model, simulation)
    return summarize(replicate, seed, simulation, fitted, ranked, rank_draws)


def write_sidecars(result: ReplicateResult, output_dir: Path | str) -> None:
    """Write a replicate's ranks, thinned draws and record next to its notebook."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    result.ranks.to_parquet(out / RANKS_FILE, index=False)
    result.draws.to_parquet(out / DRAWS_FILE, index=False)
    (out / RECORD_FILE).write_text(json.dumps(result.record, default=_jsonable, indent=1))


def read_sidecars(output_dir: Path | str) -> ReplicateResult:
    """Read what ``write_sidecars`` wrote."""
    out = Path(output_dir)
    return ReplicateResult(
        ranks=pd.read_parquet(out / RANKS_FILE),
        draws=pd.read_parquet(out / DRAWS_FILE),
        record=json.loads((out / RECORD_FILE).read_text()),
    )


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def posterior_vs_truth(fitted: Fit, simulation: Simulation, var_names: list[str]) -> pd.DataFrame:
    """ArviZ's posterior summary of ``var_names`` with the true (simulated) values beside it."""
    table = arviz_stats.summary(fitted.idata, var_names=var_names, kind="stats")
    truth = {}
    for name in var_names:
        values = np.atleast_1d(simulation.truth[name].to_numpy()).ravel()
        labels = [label for label in table.index if label == name or label.startswith(f"{name}[")]
        truth.update(dict(zip(labels, values, strict=True)))
    return table.assign(true=pd.Series(truth))
