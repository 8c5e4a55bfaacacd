"""The replicate steps: build, simulate, fit, rank, record.

One path for every caller: the replicate template calls these functions cell by cell, and
``run_replicate`` calls the same ones in a loop (tests, benchmarks, a user's own script). Each
step fails with a one-line error naming what went wrong; a NaN or infinite value anywhere
(true values, data, draws, derived quantities, log-likelihoods) fails the replicate rather than
ranking silently.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from sbc_helpers import inference
from sbc_helpers.contract import Record, ReplicateResult, make_archive, read_archive, unpack, write_truth
from sbc_helpers.errors import ModelBuildError, NonFiniteError, ParamsError, one_line
from sbc_helpers.compiled.log_likelihood import log_likelihood_totals
from sbc_helpers.inference import Fit
from sbc_helpers.models.references import describe, load_function, make_design, resolve_model
from sbc_helpers.simulation import conditioning as conditioning_module
from sbc_helpers.simulation.conditioning import Conditioning
from sbc_helpers.simulation.prior import Simulation, simulate
from sbc_helpers.run.seeds import stream_seeds
from sbc_helpers.setup import configure
from sbc_helpers.stats.diagnostics import fit_diagnostics, scalar_draws
from sbc_helpers.stats import quantities as test_quantities
from sbc_helpers.stats.ranks import rank_table, scalar_quantities, thin


@contextmanager
def _without_speed_notes():
    """PyTensor's notes on speed, not on results, which would fill replicate notebooks: its C backend
    (PyMC's initial points) found no BLAS library, and an Op without Numba code (some random
    variables' draws) runs in Python. The fits run in Numba either way."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS installation", category=UserWarning)
        warnings.filterwarnings("ignore", message="Numba will use object mode", category=UserWarning)
        yield


@dataclass
class Built:
    """A model on its design, ready for replicates."""

    design: pd.DataFrame
    model: pm.Model
    description: str  # the model as plain text (with Bambi's priors for a formula model)
    simulator: Callable | None = None
    conditioning: Conditioning | None = None  # posterior SBC: the observed data and the reference posterior


def load_design(spec: dict | str, base_dir=None) -> pd.DataFrame:
    """The design a model is built on: a maker and its arguments, or a CSV/Parquet file."""
    return make_design(spec, base_dir)


def build(design: pd.DataFrame, model: str = "", model_kwargs: dict | None = None, bambi: dict | None = None,
          simulator: str = "", base_dir=None, conditional_on: dict | None = None) -> Built:
    """Build the model (a builder reference, or a Bambi formula) on ``design`` and check it can be
    calibrated: it observes something, and a term its prior predictive ignores needs a simulator.

    For posterior SBC, ``conditional_on`` holds ``data`` (the observed data file), optionally
    ``new_design`` (a design spec) and ``reference`` (the reference posterior's draws file); the
    model is then built on the observed design followed by the new one."""
    conditioning = None
    if conditional_on:
        new_design = conditional_on.get("new_design")
        new = load_design(new_design, base_dir) if new_design else None
        observed_design, design = design, conditioning_module.concatenate(design, new)
    if bambi:
        from sbc_helpers.models.formula import build_formula_model

        built, description = build_formula_model(design, **bambi)
    else:
        builder = resolve_model(model, base_dir)
        try:
            built = builder(design, **(model_kwargs or {}))
        except Exception as err:
            raise ModelBuildError(f"{model!r} failed to build on its design: {one_line(err)}") from err
        if not isinstance(built, pm.Model):
            raise ParamsError(f"{model!r} returned {type(built).__name__}, not a pm.Model")
        description = built.str_repr()
    simulate_with = load_function(simulator, base_dir) if simulator else None
    check_model(built, has_simulator=simulate_with is not None)
    if conditional_on:
        rows = len(observed_design)
        conditioning_module.check_rows(built, rows, len(design))
        reference = conditional_on.get("reference")
        conditioning = Conditioning(
            observed=conditioning_module.read_observed(_path(conditional_on["data"], base_dir), built, rows),
            rows=rows, design=design, source=Path(conditional_on["data"]).name,
            reference=read_archive(_path(reference, base_dir)) if reference else None)
    return Built(design=design, model=built, description=description, simulator=simulate_with,
                 conditioning=conditioning)


def origin(model: str, bambi: dict | None = None) -> str:
    """What the replicate runs and how it was shipped, in one line (a builder pickled in the calling
    session, a copy of a file, a module or the library)."""
    return f"Bambi formula {bambi['formula']!r}" if bambi else describe(model)


def _path(name: str, base_dir) -> Path:
    return Path(name) if Path(name).is_absolute() or base_dir is None else Path(base_dir) / name


def check_model(model: pm.Model, has_simulator: bool) -> None:
    """Refuse models SBC cannot calibrate as they stand."""
    if not model.observed_RVs:
        raise ParamsError("the model has no observed variable: there is nothing to simulate")
    if not model.free_RVs:
        raise ParamsError("the model has no free variable: there is nothing to calibrate")
    free = {rv.name for rv in model.free_RVs}
    imputed = [base for rv in model.observed_RVs
               if (base := rv.name.removesuffix("_observed")) != rv.name and f"{base}_unobserved" in free]
    if imputed:
        raise ParamsError(f"observed variable {imputed[0]!r} has missing values, which PyMC imputes: SBC simulates "
                          "every value, so give the model only the observed rows (or model the missing ones)")
    if model.potentials and not has_simulator:
        names = ", ".join(p.name or "?" for p in model.potentials)
        raise ParamsError(f"the model has pm.Potential term(s) {names}, which its prior predictive ignores, so "
                          "prior draws would not come from the model's prior; give a simulator that draws from "
                          "the prior you intend")


@_without_speed_notes()
def draw_truth(built: Built, replicate: int, seed: int) -> Simulation:
    """Steps 1 and 2: true parameters from the prior and data simulated from them (by the model's
    prior predictive, or by the simulator); in posterior SBC, the replicate's own draw of the
    reference posterior, the data being the observed rows followed by the simulated ones."""
    if built.conditioning is not None and built.conditioning.reference is not None:
        simulation = conditioning_module.draw(built.model, built.conditioning, replicate,
                                              stream_seeds(seed)["simulate"])
    else:
        simulation = simulate(built.model, stream_seeds(seed)["simulate"], built.simulator, built.design)
    for name in simulation.truth.data_vars:
        _require_finite(simulation.truth[name].to_numpy(), f"the true value of {name!r}")
    for name, values in simulation.data.items():
        _require_finite(values, f"the simulated data of {name!r}")
    return simulation


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


def ranked_quantities(built: Built, simulation: Simulation, quantities: list[str] | None = None) -> list[str]:
    """The variables to rank: ``quantities``, or the model's parameters (``default_quantities``)."""
    if not quantities:
        return default_quantities(built.model, simulation)
    unknown = [q for q in quantities if q not in simulation.truth]
    if unknown:
        raise ParamsError(f"quantities: not free variables or Deterministics of the model: {', '.join(unknown)}")
    return list(quantities)


def record_truth(simulation: Simulation, quantities: list[str], output_dir=".") -> dict[str, float]:
    """The true values of the ranked quantities, labelled like the ranks, written to ``output_dir``
    (unless None) before the fit: a replicate whose fit then fails still says where in parameter
    space it was (``failures.csv``)."""
    truth = {label: float(value) for label, value in scalar_quantities(simulation.truth, quantities).items()}
    if output_dir is not None:
        write_truth(truth, output_dir)
    return truth


@_without_speed_notes()
def fit(built: Built, simulation: Simulation, seed: int, inference_settings: dict, cores: int = 1,
        base_dir=None) -> Fit:
    """Step 3: condition the model on the simulated data and approximate its posterior."""
    settings = {k: v for k, v in inference_settings.items() if k != "label"}
    cores = settings.pop("cores", cores)
    return inference.fit(built.model, simulation.data, seed=stream_seeds(seed)["fit"], cores=cores,
                         base_dir=base_dir, **settings)


@_without_speed_notes()
def rank(replicate: int, seed: int, model: pm.Model, simulation: Simulation, fitted: Fit, quantities: list[str],
         rank_draws: int, keep_draws: int = 0, derived: dict[str, str] | None = None,
         log_likelihood: bool = True) -> ReplicateResult:
    """Step 4: archive the kept draws, rank every test quantity and record the fit's diagnostics."""
    posterior = fitted.idata["posterior"].to_dataset()
    names = list(dict.fromkeys([*quantities, *(rv.name for rv in model.free_RVs)]))
    for name in names:  # every draw, not only the kept ones: a NaN anywhere fails the replicate
        _require_finite(posterior[name].to_numpy(), f"the posterior draws of {name!r}")
    kept = thin(posterior[names], keep_draws or rank_draws)
    archived = make_archive(kept, simulation.truth, simulation.data, quantities, simulation.conditioning_rows)
    ranks = ranks_from_archive(archived, quantities, rank_draws, seed, derived, model if log_likelihood else None)
    ranks.insert(0, "replicate", replicate)
    diagnostics = fit_diagnostics(fitted.idata, [q for q in quantities if q in posterior],
                                  independent=fitted.independent)
    record = Record.ok(replicate, seed, diagnostics, seconds=fitted.seconds, rank_draws=rank_draws,
                       kept_draws=int(archived.sizes["draw"]))
    return ReplicateResult(ranks=ranks, archive=archived, record=record)


def ranks_from_archive(archived: xr.Dataset, quantities: list[str], rank_draws: int, seed: int,
                       derived: dict[str, str] | None = None, model: pm.Model | None = None) -> pd.DataFrame:
    """Rank the quantities, the ``derived`` expressions and (given the model) the data log-likelihood.

    Used at run time and by ``recompute``, so both give the same ranks from the same archive.
    """
    draws, truth, data = unpack(archived)
    test_draws, test_truth = [draws[quantities]], [truth[quantities]]
    if derived:
        d, t = test_quantities.derived(draws, truth, derived)
        test_draws.append(d)
        test_truth.append(t)
    if model is not None:  # in posterior SBC, of the simulated rows alone (see simulation/conditioning.py)
        d, t = data_log_likelihood(model, data, draws, truth, int(archived.attrs.get("conditioning_rows", 0)))
        test_draws.append(d)
        test_truth.append(t)
    draws_all = xr.merge(test_draws, compat="override")
    truth_all = xr.merge(test_truth, compat="override")
    for name in draws_all.data_vars:
        _require_finite(draws_all[name].to_numpy(), f"the posterior draws of {name!r}")
        _require_finite(truth_all[name].to_numpy(), f"the true value of {name!r}")
    return rank_table(draws_all, truth_all, rank_draws, stream_seeds(seed)["rank"])


def data_log_likelihood(model: pm.Model, data: dict[str, np.ndarray], draws: xr.Dataset, truth: xr.Dataset,
                        skip_rows: int = 0) -> tuple[xr.Dataset, xr.Dataset]:
    """The ``log_lik`` test quantity of ``data`` (``stats.quantities.log_likelihood``), leaving out
    the first ``skip_rows`` rows of every observed variable, by the unconditioned ``model``'s
    compiled log-likelihood, reused across replicates (``compiled/log_likelihood.py``)."""
    totals = functools.partial(log_likelihood_totals, model, data, skip_rows=skip_rows)
    return test_quantities.log_likelihood(draws, truth, [rv.name for rv in model.free_RVs], totals)


def _require_finite(values, what: str) -> None:
    values = np.asarray(values, dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        count = f"{int(bad.sum())} of {values.size} values" if values.size > 1 else "its value"
        raise NonFiniteError(f"{what} is non-finite ({count} NaN or infinite)")


def fit_flags(record: Record, thresholds: dict | None = None) -> str:
    """Why this replicate's fit is suspect by its diagnostics ('' when it is not), against the
    campaign's thresholds (the report's own check, ``flag_replicates``)."""
    from sbc_helpers.run.params import Thresholds
    from sbc_helpers.stats.flags import flag_replicates

    row = pd.DataFrame([record.model_dump()])
    return str(flag_replicates(row, Thresholds(**(thresholds or {})).model_dump()).iloc[0])


def posterior_vs_truth(fitted: Fit, simulation: Simulation, var_names: list[str]) -> pd.DataFrame:
    """ArviZ's posterior summary of ``var_names`` (``kind="stats"``: mean, sd and the default
    equal-tailed interval) with the true (simulated) values beside it, one row per scalar.

    Computed on the stacked scalars with ArviZ's array functions: ``arviz_stats.summary`` gives the
    same numbers but builds and stacks a Dataset per variable, several times the cost of a fit's
    bookkeeping on a small model."""
    from arviz_base import rcParams
    from arviz_stats.base import array_stats

    labels, draws = scalar_draws(fitted.idata["posterior"].to_dataset(), var_names)
    pooled = draws.reshape(len(labels), -1)
    prob = rcParams["stats.ci_prob"]
    lower, upper = np.moveaxis(array_stats.eti(pooled, prob, axis=-1), -1, 0)
    percent = f"{100 * prob:g}"
    truth = scalar_quantities(simulation.truth, var_names)
    return pd.DataFrame({"mean": pooled.mean(axis=1), "sd": array_stats.std(pooled, axis=-1),
                         f"eti{percent}_lb": lower, f"eti{percent}_ub": upper,
                         "true": [float(truth[label]) for label in labels]}, index=labels)


def run_replicate(built: Built | pm.Model, replicate: int, seed: int, inference_settings: dict,
                  rank_draws: int = 100, quantities: list[str] | None = None, *, keep_draws: int = 0,
                  derived: dict[str, str] | None = None, log_likelihood: bool = True, cores: int = 1,
                  base_dir=None, output_dir=None) -> ReplicateResult:
    """One replicate in this process, by the template's steps in ``contract.STAGES``' order and under
    its parameters' names (``built``: a ``Built`` or a bare model); given ``output_dir``, the truth
    and the side-car files are written there, as the template writes them."""
    configure()
    if isinstance(built, pm.Model):
        check_model(built, has_simulator=False)
        built = Built(design=pd.DataFrame(), model=built, description="")
    simulation = draw_truth(built, replicate, seed)
    ranked = ranked_quantities(built, simulation, quantities)
    record_truth(simulation, ranked, output_dir)
    fitted = fit(built, simulation, seed, inference_settings, cores=cores, base_dir=base_dir)
    result = rank(replicate, seed, built.model, simulation, fitted, ranked, rank_draws, keep_draws, derived,
                  log_likelihood)
    if output_dir is not None:
        result.write(output_dir)
    return result
