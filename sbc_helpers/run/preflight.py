"""Preflight: find what would fail every replicate before any replicate starts.

For each model: the design loads, the model builds on it (or the Bambi formula does), it observes
something, a term its prior predictive ignores has a simulator; one prior draw (or one simulator
draw, with the model's variable names and shapes) succeeds; every ranked quantity exists; every
derived expression and the log-likelihood evaluate on that draw (the log-likelihood's vectorised
function is checked against a point-by-point one there, ``compiled.log_likelihood``). In
posterior SBC the model builds on the observed and new designs concatenated, and the data file has
its observed variables. For each method: its packages import, its function loads, and it can sample
the model's free variables (discrete ones). Each failure is a ``ParamsError`` naming the key.
"""

from __future__ import annotations

from dataclasses import dataclass

from sbc_helpers.errors import BadReference, ParamsError, SBCError, one_line
from sbc_helpers.run.params import Campaign
from sbc_helpers.run.seeds import replicate_seed


@dataclass
class Checked:
    """What the preflight learned of each unit: its model as text and its ranked quantities."""

    description: str
    quantities: list[str]


def conditioning_of(spec) -> dict | None:
    """A posterior-SBC model's files, as ``steps.build`` takes them (without the reference, which
    is fitted after the preflight)."""
    if spec.conditional_on is None:
        return None
    return {"data": spec.conditional_on, "new_design": spec.new_design}


def preflight(campaign: Campaign) -> dict[str, Checked]:
    """Check every model and method of ``campaign``; return what was learned, per unit name."""
    import pytensor

    from sbc_helpers import inference
    from sbc_helpers.compiled.cache import PYTHON_MODE

    units = campaign.units()
    for unit in units:
        where = f"models.{campaign.models.index(unit.spec)} ({unit.spec.name}).inference"
        try:
            inference.check(unit.inference, campaign.base_dir)
        except Exception as err:
            key = ".function" if isinstance(err, BadReference) else ""
            raise ParamsError(f"{where}{key}: {one_line(err, typed=not isinstance(err, SBCError))}") from None
    checked: dict[str, Checked] = {}
    # PyTensor's Python linker: the checks need values, not speed, and Numba would spend seconds per
    # model compiling what no replicate here uses (kernels compile their own; the function cache
    # keys by mode, so an in-process run after a preflight still compiles with the default)
    with pytensor.config.change_flags(mode=PYTHON_MODE):
        for i, spec in enumerate(campaign.models):
            checked.update(_check_model(campaign, units, i, spec))
    return checked


def _check_model(campaign: Campaign, units: list, i: int, spec) -> dict[str, Checked]:
    """The design, build, methods, prior draw, quantities, derived expressions and log-likelihood of
    one model."""
    from sbc_helpers import inference
    from sbc_helpers.models.references import load_function
    from sbc_helpers.run import steps
    from sbc_helpers.stats.quantities import derived

    where = f"models.{i} ({spec.name})"
    first = next(u for u in units if u.spec is spec)

    def step(key: str, action, *args, doing: str = ""):
        try:
            return action(*args)
        except Exception as err:
            raise ParamsError(f"{where}.{key}: {doing}{one_line(err, typed=not isinstance(err, SBCError))}") from None

    design = step("design", steps.load_design, campaign.design_for(spec), campaign.base_dir)
    key = "bambi" if spec.bambi else "model"
    bambi = spec.bambi.model_dump() if spec.bambi else None
    if spec.simulator:
        step("simulator", load_function, spec.simulator, campaign.base_dir)
    built = step(key, lambda: steps.build(design, spec.model or "", spec.model_kwargs, bambi,
                                          spec.simulator or "", campaign.base_dir, conditioning_of(spec)))
    for unit in units:
        if unit.spec is spec:
            step("inference", inference.check_model, unit.inference, built.model)
    simulation = step("simulator" if spec.simulator else key, steps.draw_truth, built, 0,
                      replicate_seed(campaign.seed, first.name, 0),
                      doing="the simulator's draw failed: " if spec.simulator else "the prior draw failed: ")
    quantities = step("quantities", steps.ranked_quantities, built, simulation, spec.quantities)
    truth = simulation.truth
    as_draws = truth.expand_dims(draw=1)
    expressions = campaign.derived_for(spec)
    if expressions:
        step("derived", derived, as_draws, truth, expressions)
    if campaign.log_likelihood:
        step(key, steps.data_log_likelihood, built.model, simulation.data, as_draws, truth)
    return {unit.name: Checked(description=built.description, quantities=quantities)
            for unit in units if unit.spec is spec}
