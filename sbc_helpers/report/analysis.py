"""Analysis: everything a unit's report says, computed once and written as tables.

``gather`` turns a unit's replicate files into ``ranks.parquet`` and ``replicates.parquet`` (with
each fit's flags); ``analyse`` adds ``calibration.csv`` and ``verdict.json`` (the verdict, how
coarse it is, whether flagged fits change it, failures grouped by message), ``truths.parquet`` and
``failures.csv`` (whether failed or flagged fits sit at particular true values). The summary notebook
and the index page only render these files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sbc_helpers.contract import FAILURE_COLUMNS, UNIT_FILES
from sbc_helpers.run import store
from sbc_helpers.run.params import Campaign, Unit
from sbc_helpers.stats import ALPHA
from sbc_helpers.stats.calibrate import calibration_report, calibration_table, constant_quantities
from sbc_helpers.stats.failures import dependence_line, failure_dependence, truth_outcomes
from sbc_helpers.stats.flags import flag_replicates
from sbc_helpers.stats.planning import undetected_coverage

RESOLUTION_UP_TO = 10_000  # above this many replicates the "4x as many" figure takes too long


@dataclass
class Tables:
    """A unit's gathered tables, and in a sequential campaign where it stopped."""

    ranks: pd.DataFrame  # the tested quantities' ranks
    replicates: pd.DataFrame
    decision: object = None  # run.sequential.Decision
    kept_after_stop: int = 0  # replicates that finished after the stop: on disk, not in the tables
    failed_truths: pd.DataFrame | None = None  # true values of failed replicates (store.Gathered)
    constant: list[str] = field(default_factory=list)  # the same point in every truth and posterior: not tested
    sequential_ranks: pd.DataFrame | None = None  # every quantity's ranks, as the stopping rule read them


def gather(campaign_dir: Path, unit: str, campaign: Campaign, write: bool = True) -> Tables:
    """Gather a unit's replicates 0..N-1 into its two tables, flag its fits, write both files
    (unless not ``write``: a reader such as ``sbc compare`` leaves the folder as it is).

    In a sequential campaign the tables hold the replicates the stopping rule used (those before
    its stopping point), so they depend on the seeds only, not on which worker finished first.
    Quantities that are the same point in every true value and posterior are left out of the ranks
    table (``calibrate.constant_quantities``); the stopping rule, which sees replicates one at a
    time, read them, and their tied ranks are uniform."""
    folder = store.unit_dir(campaign_dir, unit)
    gathered = store.gather(folder, campaign.replicates)
    store.warn_unused(unit, gathered, campaign.replicates)
    ranks, replicates = gathered.ranks, gathered.replicates
    decision, kept = None, 0
    if campaign.sequential is not None:
        from sbc_helpers.run.sequential import decide

        decision = decide(campaign, ranks, replicates)
        if decision.stopped_at is not None:
            kept = int((replicates["replicate"] >= decision.stopped_at).sum())
            ranks = ranks.loc[ranks["replicate"] < decision.stopped_at].reset_index(drop=True)
            replicates = replicates.loc[replicates["replicate"] < decision.stopped_at].reset_index(drop=True)
    replicates["flags"] = flag_replicates(replicates, campaign.thresholds.model_dump()) if len(replicates) else []
    constant = constant_quantities(ranks)
    tested = ranks.loc[~ranks["quantity"].isin(constant)].reset_index(drop=True)
    if write:
        store.write_tables(folder, tested, replicates)
    failed_truths = gathered.failed_truths
    failed_truths = failed_truths.loc[~failed_truths["quantity"].isin(constant)].reset_index(drop=True)
    return Tables(ranks=tested, replicates=replicates, decision=decision, kept_after_stop=kept,
                  failed_truths=failed_truths, constant=constant, sequential_ranks=ranks)


def worst_first(calibration: pd.DataFrame) -> pd.DataFrame:
    """The calibration table in the order the report shows it: least calibrated first (smallest
    ``p_adjusted``, then smallest ``gamma_p_value``; ties keep the ranks' order)."""
    return calibration.sort_values(["p_adjusted", "gamma_p_value"], kind="stable")


def failure_order(dependence: pd.DataFrame) -> pd.DataFrame:
    """``failures.csv`` in the order the report shows it: the quantities whose failed or flagged
    fits sit most clearly at particular true values first (smallest ``p_adjusted``, untested last)."""
    return dependence.sort_values(["p_adjusted", "p_value"], na_position="last", kind="stable")


def verdict_line(calibration: pd.DataFrame) -> str:
    """One line: calibrated, or which quantities are not."""
    if calibration.empty:
        return "no completed replicates"
    bad = calibration.loc[~calibration["calibrated"].astype(bool)].sort_values("p_adjusted")
    if bad.empty:
        return f"no evidence of miscalibration in {len(calibration)} quantities"
    worst = ", ".join(bad["quantity"].head(4))
    more = f" and {len(bad) - 4} more" if len(bad) > 4 else ""
    return f"miscalibrated: {worst}{more}"


def resolution(calibration: pd.DataFrame, max_rank: int, alpha: float = ALPHA) -> str:
    """One line: how large a miscalibration this many replicates are sure to flag, and with 4x as many.

    A "no evidence" verdict at a few hundred replicates can hide a sizeable error; this says how
    sizeable, in the coverage of central 50% intervals (``planning.undetected_coverage``)."""
    n, m = int(calibration["n_replicates"].min()) if len(calibration) else 0, len(calibration)
    if n < 2 or max_rank < 3:
        return ""
    nominal, low, high = undetected_coverage(n, max_rank, m, alpha)
    line = (f"With {n} replicates and {m} quantities, a quantity is sure to be flagged once its central "
            f"{nominal:.0%} intervals cover under {low:.0%} or over {high:.0%} of true values; a milder "
            f"miscalibration may pass.")
    if 4 * n <= RESOLUTION_UP_TO:
        _, low4, high4 = undetected_coverage(4 * n, max_rank, m, alpha)
        line += f" With {4 * n} replicates: under {low4:.0%} or over {high4:.0%}."
    return line


def sensitivity(ranks: pd.DataFrame, replicates: pd.DataFrame, calibration: pd.DataFrame,
                alpha: float = ALPHA) -> dict:
    """Does leaving out the flagged replicates change the verdict?"""
    flagged = set(replicates.loc[(replicates["flags"] != "") & (replicates["status"] == "ok"), "replicate"])
    kept = ranks.loc[~ranks["replicate"].isin(flagged)]
    without = calibration_table(kept, alpha) if flagged and not kept.empty else calibration
    failing = set(calibration.loc[~calibration["calibrated"].astype(bool), "quantity"])
    return {
        "n_flagged": len(flagged),
        "verdict_all": verdict_line(calibration),
        "verdict_unflagged": verdict_line(without) if not kept.empty else "no unflagged replicates",
        # None: cannot be checked, every replicate is flagged
        "changed": None if kept.empty else failing != set(without.loc[~without["calibrated"], "quantity"]),
    }


def failures(replicates: pd.DataFrame) -> pd.DataFrame:
    """Failed replicates grouped by error and message, most frequent first."""
    failed = replicates.loc[replicates["status"] == "failed"] if len(replicates) else replicates
    if failed.empty:
        return pd.DataFrame(columns=FAILURE_COLUMNS)
    groups = failed.groupby(["error", "message"], sort=False, dropna=False)["replicate"]
    table = groups.agg(count="size", first_replicate="min", replicates=lambda r: " ".join(map(str, sorted(r))))
    return table.reset_index().sort_values(["count", "first_replicate"], ascending=[False, True])[FAILURE_COLUMNS]


def stopped_reason(replicates: pd.DataFrame) -> str | None:
    """Why a unit was stopped early, if it was (its not-run records say)."""
    not_run = replicates.loc[replicates["status"] == "not_run", "message"] if len(replicates) else []
    return str(not_run.iloc[0]).removeprefix("not run: the unit was ") if len(not_run) else None


def analyse(campaign_dir: Path, unit: Unit, campaign: Campaign, tables: Tables | None = None) -> dict:
    """Compute a unit's report once: write ``calibration.csv`` and ``verdict.json``; return the verdict."""
    tables = tables or gather(campaign_dir, unit.name, campaign)
    ranks, replicates = tables.ranks, tables.replicates
    folder = store.unit_dir(campaign_dir, unit.name)
    calibration = calibration_report(ranks, campaign.alpha)
    store.atomic_write(folder / UNIT_FILES["calibration"], calibration.to_csv(index=False).encode())
    status = replicates["status"] if len(replicates) else pd.Series(dtype=str)
    failed = failures(replicates)
    line = verdict_line(calibration)
    stopped = stopped_reason(replicates)
    if calibration.empty and tables.constant:
        line = "nothing tested: every ranked quantity is the same point in every replicate's truth and posterior"
    elif calibration.empty and stopped:
        line = f"no completed replicates: {stopped}"
    elif calibration.empty and len(failed):
        top = failed.iloc[0]
        line = f"no completed replicates: {int(status.eq('failed').sum())} failed ({top['error']}: {top['message']})"
    truths = truth_outcomes(ranks, replicates, tables.failed_truths)
    store.atomic_write(folder / UNIT_FILES["truths"], truths.to_parquet(index=False))
    dependence = failure_dependence(truths, int(status.eq("failed").sum()), campaign.alpha)
    store.atomic_write(folder / UNIT_FILES["failures"], dependence.to_csv(index=False).encode())
    check = sensitivity(ranks, replicates, calibration, campaign.alpha) if len(calibration) else None
    region = dependence_line(dependence, flagged_change=check["changed"] if check else None)
    max_rank = int(ranks["max_rank"].max()) if len(ranks) else 0
    decision = tables.decision
    sequential = None
    if decision is not None:
        from sbc_helpers.run.sequential import evidence_paths

        paths = evidence_paths(campaign, tables.sequential_ranks, decision.stopped_at)
        store.atomic_write(folder / UNIT_FILES["evidence"], paths.to_parquet(index=False))
        sequential = {"reason": decision.reason, "line": decision.line(campaign.replicates),
                      "alpha_sequential": campaign.sequential.alpha_sequential,
                      "stopped_at": decision.stopped_at, "flagged": decision.flagged, "target": decision.target,
                      "threshold": decision.threshold, "kept_after_stop": tables.kept_after_stop}
        if decision.reason == "flagged":
            more = f" and {len(decision.flagged) - 4} more" if len(decision.flagged) > 4 else ""
            line = f"miscalibrated: {', '.join(decision.flagged[:4])}{more}"
    if region:
        line = f"{line}; {region}"
    flags = replicates.get("flags", pd.Series(dtype=str)).fillna("")
    reference = None
    if unit.spec.conditional_on:
        from sbc_helpers.run.posterior import reference_summary

        reference = reference_summary(campaign_dir, unit.spec, campaign.replicates)
    verdict = {
        "unit": unit.name,
        "model": unit.spec.name,
        "method": unit.inference.method,
        "conditional_on": Path(unit.spec.conditional_on).name if unit.spec.conditional_on else None,
        "reference": reference,
        "method_label": _method_label(unit),
        "verdict": line,
        "calibrated": bool(len(calibration)) and bool(calibration["calibrated"].astype(bool).all())
        and not (decision is not None and decision.reason == "flagged"),
        "done": int(status.eq("ok").sum()),
        "failed": int(status.eq("failed").sum()),
        "not_run": int(status.eq("not_run").sum()),
        "replicates": campaign.replicates,
        "flagged": int(((flags != "") & status.eq("ok")).sum()),
        "worker_seconds": float(pd.to_numeric(replicates.get("wall_seconds"), errors="coerce").sum())
        if len(replicates) else 0.0,
        "fit_seconds": _median(replicates.get("seconds")),
        "ess_per_second": _ess_per_second(replicates),
        "alpha": campaign.alpha,  # the level of the calibration table's marks
        "resolution": resolution(calibration, max_rank, campaign.alpha) if len(calibration) else "",
        "sensitivity": check,
        "sequential": sequential,
        "failures": failed.to_dict(orient="records"),
        "failure_region": region,
        "stopped": stopped,
        "worst": worst_first(calibration)["quantity"].head(4).tolist() if len(calibration) else [],
        "constant": tables.constant,
    }
    store.atomic_write(folder / UNIT_FILES["verdict"], json.dumps(verdict, indent=1, default=_plain).encode())
    return verdict


def methods_sentence(model: str, units: list[dict]) -> str:
    """Which methods are calibrated for ``model`` and the median seconds each fit costs."""
    def cost(v):
        return f"{v.get('method_label', v['method'])} ({_short(v.get('fit_seconds')) or '?'} s per fit)"

    good = [cost(v) for v in units if v["calibrated"]]
    bad = [cost(v) for v in units if not v["calibrated"]]
    parts = [f"{model}: calibrated under {', '.join(good)}" if good else f"{model}: no method is calibrated"]
    if bad:
        parts.append(f"not shown calibrated under {', '.join(bad)}")
    return "; ".join(parts) + "."


def _short(value) -> str:
    return "" if value is None else f"{value:.3g}"


def compare_methods(campaign_dir: Path, verdicts: list[dict]) -> None:
    """For each model fitted by several methods, add to each of its verdicts (and ``verdict.json``)
    the sentence saying which methods are calibrated for the model and what each costs."""
    by_model: dict[str, list[dict]] = {}
    for v in verdicts:
        by_model.setdefault(v["model"], []).append(v)
    for model, units in by_model.items():
        if len(units) < 2:
            continue
        line = methods_sentence(model, units)
        for v in units:
            v["methods"] = line
            store.atomic_write(store.unit_dir(campaign_dir, v["unit"]) / UNIT_FILES["verdict"],
                               json.dumps(v, indent=1, default=_plain).encode())


def _method_label(unit: Unit) -> str:
    """The method as its default folder suffix names it (``nuts-numpyro``), or the unit's label."""
    from sbc_helpers import inference

    return inference.backend(unit.inference.method).label(unit.inference)


def _ess_per_second(replicates: pd.DataFrame) -> float | None:
    """Median over completed fits of the smallest bulk ESS divided by the fit's seconds; None for
    methods with independent draws (no ESS computed)."""
    if not len(replicates) or "min_ess_bulk" not in replicates or "seconds" not in replicates:
        return None
    ok = replicates.loc[replicates["status"] == "ok"]
    ess = pd.to_numeric(ok["min_ess_bulk"], errors="coerce")
    seconds = pd.to_numeric(ok["seconds"], errors="coerce")
    return _median((ess / seconds.where(seconds > 0)).dropna())


def _median(values) -> float | None:
    if values is None or not len(values):
        return None
    values = pd.to_numeric(values, errors="coerce").dropna()
    return float(values.median()) if len(values) else None


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def read_verdict(folder: Path) -> dict:
    return json.loads((Path(folder) / UNIT_FILES["verdict"]).read_text())
