"""Posterior SBC: calibration conditional on the user's observed data (Säilynoja, Schmitt, Bürkner
and Vehtari 2025, arXiv:2502.03279).

Prior SBC averages over the whole prior; posterior SBC asks whether inference is calibrated near
the data at hand. A reference posterior p(θ | y) is fitted once to the observed data. Each
replicate draws θ' from it, simulates y' from θ' on the new design (the observed design unless
another is given) and fits the method under test to y and y' together, on the two designs
concatenated. Then θ' is a draw from p(θ | y, y'), so its ranks among that fit's draws are
uniform, as in prior SBC with p(θ | y) in the prior's place, provided the θ' are independent draws
of p(θ | y) itself.

A fitted reference is a finite sample. Drawn from with replacement, the replicates' θ' follow its
empirical distribution, off from p(θ | y) by about 1/√ESS, and over N replicates that offset shows
once N approaches the ESS. So each chain is thinned to close-to-independent draws, the pool is
shuffled, and replicate r takes draw r: no θ' is used twice, and with ESS ≥ ``reference_ess_ratio``
× N (``run.posterior`` sizes the fit) the N true values vary as N independent posterior draws do,
up to a factor of about 1 + N / ESS.

The log-likelihood test quantity is that of y' alone, log p(y' | θ): any function of θ and the
conditioning data is a valid test quantity, and y' is the part that differs between replicates,
so its likelihood is where a fit that does not use y' properly shows (log p(y | θ) of the fixed
observed rows is a function of θ alone, which the parameter ranks already cover).
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from sbc_helpers.compiled.cache import CACHE, graph_key
from sbc_helpers.compiled.shared import in_dtype
from sbc_helpers.errors import BadReference, ParamsError
from sbc_helpers.models.references import read_design
from sbc_helpers.models.values import as_dataset, with_deterministics
from sbc_helpers.simulation.prior import Simulation


@dataclass
class Conditioning:
    """What a posterior-SBC replicate is conditioned on."""

    observed: dict[str, np.ndarray]  # observed variable -> its values on the observed design's rows
    rows: int  # the observed design's rows: the first rows of ``design``
    design: pd.DataFrame  # the observed design, then the new design
    reference: xr.Dataset | None  # reference posterior draws of the free variables, along ``draw``
    source: str  # the data file's name, for pages


def concatenate(design: pd.DataFrame, new_design: pd.DataFrame | None) -> pd.DataFrame:
    """The observed design's rows, then the new design's (the observed design again if none)."""
    new = design if new_design is None else new_design
    missing = [c for c in design.columns if c not in new.columns]
    if missing:
        raise ParamsError(f"new_design lacks the design's column(s) {', '.join(map(str, missing))}")
    return pd.concat([design, new[design.columns]], ignore_index=True)


def read_observed(path: Path | str, model: pm.Model, rows: int) -> dict[str, np.ndarray]:
    """The observed data of ``path`` (CSV or Parquet): one column per observed variable of
    ``model`` (built on the observed design), ``rows`` rows aligned with that design."""
    try:
        table = read_design(path)
    except BadReference as err:
        raise ParamsError(f"conditional_on: {str(err).replace('design file', 'data file')}") from None
    name = Path(path).name
    if len(table) != rows:
        raise ParamsError(f"conditional_on: {name} has {len(table)} rows; the design has {rows}")
    data = {}
    for rv in model.observed_RVs:
        if rv.name not in table.columns:
            raise ParamsError(f"conditional_on: {name} has no column {rv.name!r} (observed variables: "
                              f"{', '.join(v.name for v in model.observed_RVs)})")
        shape = model.rvs_to_values[rv].type.shape
        if len(shape) != 1:
            raise ParamsError(f"conditional_on: {rv.name!r} is {len(shape)}-dimensional; posterior SBC takes "
                              "observed variables with one value per design row")
        values = table[rv.name].to_numpy()
        if not np.all(np.isfinite(values.astype(float))):
            raise ParamsError(f"conditional_on: column {rv.name!r} of {name} has missing or non-finite values")
        try:
            data[rv.name] = in_dtype(rv, values)
        except ValueError as err:
            raise ParamsError(f"conditional_on: {err}") from None
    return data


def check_rows(model: pm.Model, rows: int, total: int) -> None:
    """Refuse a model whose observed variables do not have one value per row of the design."""
    for rv in model.observed_RVs:
        value = model.rvs_to_values[rv]
        length = np.shape(value.data if hasattr(value, "data") else value.eval())[0]
        if length != total:
            raise ParamsError(f"conditional_on: on the concatenated design ({rows} + {total - rows} rows) "
                              f"{rv.name!r} has {length} values, not one per row")


def true_values(reference: xr.Dataset, replicate: int | np.ndarray) -> dict[str, np.ndarray]:
    """θ' of a replicate: draw number ``replicate`` of the shuffled reference (an array of
    replicates gives their θ' stacked on a first axis). A replicate beyond the reference is an
    error, never a draw used again."""
    size = reference.sizes["draw"]
    if np.max(replicate) >= size:
        raise ParamsError(f"replicate {int(np.max(replicate))} needs its own true values, and the reference posterior "
                          f"holds {size} independent draws: rerun sbc run, which extends the reference to the "
                          "campaign's replicates")
    return {name: reference[name].isel(draw=replicate).to_numpy() for name in reference.data_vars}


def predictive_draw(model: pm.Model, point: dict[str, np.ndarray], seed: int) -> dict[str, np.ndarray]:
    """One draw of every observed variable given the free variables' values ``point`` (constrained
    scale): ``pm.sample_posterior_predictive`` for one point, compiled once per graph.

    Every free variable is frozen at its value in ``point``: otherwise PyMC redraws from the prior
    any variable that reads a shared variable (a ``dims`` length, a ``pm.Data`` container)."""
    from pymc.pytensorf import collect_default_updates, reseed_rngs
    from pymc.sampling.forward import compile_forward_sampling_function
    from pymc.sampling.mcmc import _get_seeds_per_chain

    observed = list(model.observed_RVs)
    key, inputs = graph_key("predictive", model, observed)

    def build():
        function, _ = compile_forward_sampling_function(outputs=observed, vars_in_trace=list(model.free_RVs),
                                                        basic_rvs=model.basic_RVs, freeze_vars=set(model.free_RVs),
                                                        random_seed=False, allow_input_downcast=True,
                                                        accept_inplace=True)
        free = {rv.name for rv in model.free_RVs}
        names = [i.variable.name for i in function.maker.inputs if i.variable.name in free]
        return function, names, list(collect_default_updates(inputs=[], outputs=observed))

    (function, names, rngs), _ = CACHE.get(key, observed, inputs, build)
    (seed,) = _get_seeds_per_chain(seed, 1)
    reseed_rngs(rngs, seed)
    values = function(**{name: point[name] for name in names})
    return {rv.name: np.asarray(v) for rv, v in zip(observed, values, strict=True)}


def draw(model: pm.Model, conditioning: Conditioning, replicate: int, seed: int) -> Simulation:
    """θ' of replicate ``replicate`` from the reference posterior and y' simulated from it on the
    new rows; the data are the observed rows followed by y'. ``model`` is built on the
    concatenated design."""
    point = true_values(conditioning.reference, replicate)
    simulated = predictive_draw(model, point, seed)
    data = {}
    for rv in model.observed_RVs:
        values = np.array(simulated[rv.name])
        values[:conditioning.rows] = conditioning.observed[rv.name]
        data[rv.name] = values
    truth = as_dataset(model, point)
    if model.deterministics:
        truth = with_deterministics(pm.observe(model, data), truth)
    return Simulation(truth=truth, data=data, conditioning_rows=conditioning.rows)


def effective_size(posterior: xr.Dataset, independent: bool) -> float:
    """The ESS of a reference fit's draws (``chain``, ``draw`` dims): the smallest bulk or tail ESS
    of any scalar of its variables (as the fit diagnostics compute them; NaN when one is constant);
    for independent draws, the count of distinct ones (a resampling method repeats draws)."""
    from arviz_base import rcParams

    from sbc_helpers.stats import mcmc
    from sbc_helpers.stats.diagnostics import scalar_draws

    _, draws = scalar_draws(posterior, list(posterior.data_vars))
    if independent:
        return float(len(np.unique(draws.reshape(len(draws), -1).T, axis=0)))
    with np.errstate(invalid="ignore"):
        return float(min(np.min(mcmc.ess_bulk(draws)), np.min(mcmc.ess_tail(draws, rcParams["stats.ci_prob"]))))


def independent_draws(posterior: xr.Dataset, ess: float, seed: int) -> xr.Dataset:
    """A fit's draws (``chain``, ``draw`` dims) as close-to-independent draws in random order, along
    ``draw``: each chain keeps every k-th draw, k = draws / ESS (about ESS draws are kept), and the
    chains' kept draws are pooled and shuffled."""
    step = max(1, int(posterior.sizes["chain"] * posterior.sizes["draw"] // ess))
    kept = posterior.isel(draw=slice(None, None, step)).stack(sample=("chain", "draw")).transpose("sample", ...)
    kept = kept.drop_vars(["sample", "chain", "draw"]).rename(sample="draw").drop_attrs()
    return kept.isel(draw=np.random.default_rng(seed).permutation(kept.sizes["draw"]))
