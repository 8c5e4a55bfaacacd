"""``sbc compare BASELINE CURRENT``: what changed between two campaigns of the same models, and
whether anything got worse: the provenance diff, per unit and quantity a test of the change in
calibration (``stats.compare``), the shares of failed and flagged fits, the costs; written as
``compare.csv`` and a page with both campaigns' ECDF differences on shared axes."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sbc_helpers.contract import CAMPAIGN_FILES, COMPARED
from sbc_helpers.errors import CompareError, ParamsError
from sbc_helpers.report.tables import render
from sbc_helpers.run import provenance, store
from sbc_helpers.run.params import Campaign, campaign_from
from sbc_helpers.stats import compare as stats

LOST = "ranked in the baseline only"
"""The test of a quantity the current campaign did not rank: counted as worse calibration."""
ROW_KINDS = {"calibration": "calibration", "failures": "failed", "flags": "flagged"}  # -> compare.csv's kind
COLUMNS = ["unit", "kind", "quantity", "test", "baseline", "current", "change", "low", "high", "p_value",
           "p_adjusted", "p_changed", "worse", "n_baseline", "n_current"]
"""``compare.csv``: one row per unit and quantity (kind calibration: each campaign's distance from
uniform; ``p_value`` the raw one-sided p-value of "worse", ``p_adjusted`` its Holm adjustment across
the unit's quantities, ``p_changed`` the Holm-adjusted two-sided one), and per unit one row each for
the shares of failed and flagged fits (Fisher's test, one per unit: ``p_adjusted`` is ``p_value``)
and for seconds per fit and ESS per second (ratio current / baseline, 95% interval)."""
FOLDER = CAMPAIGN_FILES["comparison"]  # the default output folder, inside the current campaign's
SHOWN = 8  # quantities in a unit's figure, least calibrated now first


@dataclass
class UnitComparison:
    unit: str
    pairing: stats.Pairing
    rows: pd.DataFrame
    curves: dict = field(default_factory=dict)  # quantity -> {"baseline": PIT, "current": PIT}


@dataclass
class Comparison:
    """Two campaigns compared: the lines to print, the table, and what got worse by kind."""

    baseline: Path
    current: Path
    changes: list[str]  # the provenance diff
    units: list[UnitComparison]
    only: dict[str, list[str]]  # units in one campaign only: "baseline"/"current" -> names
    alpha: float
    page: Path | None = None  # compare.html, once written

    @property
    def table(self) -> pd.DataFrame:
        frames = [u.rows for u in self.units if len(u.rows)]
        return pd.concat(frames, ignore_index=True)[COLUMNS] if frames else pd.DataFrame(columns=COLUMNS)

    def worse(self, kind: str) -> list[str]:
        """What got significantly worse of one kind: ``unit: quantity`` or ``unit``."""
        table = self.table
        kind_rows = table.loc[(table["kind"] == ROW_KINDS[kind]) & table["worse"].astype(bool)]
        return [f"{r.unit}: {r.quantity}" if kind == "calibration" else r.unit for r in kind_rows.itertuples()]

    def exit_code(self, fail_on: tuple[str, ...] = COMPARED) -> int:
        """0 when nothing in ``fail_on`` got worse, else 1."""
        return int(any(self.worse(kind) for kind in fail_on))

    def lines(self) -> list[str]:
        """The comparison in a few lines: provenance first, then per unit."""
        out = [f"changed: {'; '.join(self.changes)}" if self.changes else "changed: nothing in the provenance"]
        for side, names in self.only.items():
            if names:
                out.append(f"only in the {side}: {', '.join(names)} (not compared)")
        for unit in self.units:
            out.append(f"{unit.unit}: {unit.pairing.how}")
            rows = unit.rows.set_index("kind", drop=False)
            calibration = unit.rows.loc[unit.rows["kind"] == "calibration"]
            worse = calibration.loc[calibration["worse"].astype(bool)].sort_values("p_adjusted", na_position="first")
            if len(worse):
                listed = ", ".join(f"{r.quantity} ({'not ranked now' if r.test == LOST else f'p {r.p_adjusted:.3g}'})"
                                   for r in worse.head(5).itertuples())
                out.append(f"{unit.unit}: calibration worse in {len(worse)} of {len(calibration)} quantities: {listed}")
            else:
                out.append(f"{unit.unit}: calibration not worse in any of {len(calibration)} quantities "
                           f"({calibration['test'].iloc[0] if len(calibration) else 'none tested'}, Holm)")
            for kind, name in (("failed", "failed fits"), ("flagged", "flagged fits")):
                r = rows.loc[kind]
                if np.isfinite(r["baseline"]):
                    mark = " WORSE" if r["worse"] else ""
                    out.append(f"{unit.unit}: {name} {r['baseline']:.1%} -> {r['current']:.1%} "
                               f"(Fisher p {r['p_value']:.3g}){mark}")
            costs = []
            for kind, name in (("seconds_per_fit", "seconds per fit"), ("ess_per_second", "ESS per second")):
                r = rows.loc[kind]
                if np.isfinite(r["change"]):
                    costs.append(f"{name} x{r['change']:.2f} [{r['low']:.2f}, {r['high']:.2f}]")
            if costs:
                out.append(f"{unit.unit}: {'; '.join(costs)}")
        return out


def counted(fail_on) -> tuple[str, ...]:
    """``fail_on`` checked: one or more of ``COMPARED``, as a sequence or a comma-separated string."""
    kinds = tuple(k.strip() for k in (fail_on.split(",") if isinstance(fail_on, str) else fail_on) if k.strip())
    if not kinds or set(kinds) - set(COMPARED):
        raise ParamsError(f"fail_on {fail_on!r}: give one or more of {', '.join(COMPARED)}")
    return kinds


def _campaign(folder: Path, side: str) -> Campaign:
    if not Path(folder).is_dir():
        raise CompareError(f"{side} {folder} is not a folder")
    return campaign_from(store.read_manifest(folder), str(folder))


def _model_of(campaign: Campaign, unit: str) -> str:
    """What a unit's model is called: a library model's name, a builder's function name (wherever its
    file lives: a moved or edited file is the same model, its change named by the provenance), or a
    Bambi formula."""
    spec = campaign.unit(unit).spec
    if spec.model is None:
        return f"bambi {spec.bambi.formula}"
    return spec.model.rsplit(":", 1)[-1]


def compare_campaigns(baseline: Path | str, current: Path | str, alpha: float = stats.ALPHA,
                      permutations: int = stats.PERMUTATIONS, seed: int = 0) -> Comparison:
    """Compare every unit the two campaign folders share. Raises ``CompareError`` (one line) for a
    folder that is not a campaign, units of the same name made from different models, or nothing
    in common to compare."""
    from sbc_helpers.report import analysis

    baseline, current = Path(baseline), Path(current)
    base_campaign, current_campaign = _campaign(baseline, "baseline"), _campaign(current, "current")
    base_units = [u.name for u in base_campaign.units()]
    current_units = [u.name for u in current_campaign.units()]
    common = [u for u in current_units if u in base_units]
    if not common:
        raise CompareError(f"the campaigns share no model (baseline: {', '.join(base_units)}; current: "
                           f"{', '.join(current_units)}): nothing to compare")
    for unit in common:
        a, b = _model_of(base_campaign, unit), _model_of(current_campaign, unit)
        if a != b:
            raise CompareError(f"{unit}: the baseline's model is {a}, the current {b}: different models")
    units = []
    for unit in common:
        base = analysis.gather(baseline, unit, base_campaign, write=False)
        now = analysis.gather(current, unit, current_campaign, write=False)
        units.append(compare_unit(unit, base, now, alpha, permutations, seed))
    if not any((u.rows["kind"] == "calibration").any() for u in units):
        raise CompareError("no quantity was ranked in both campaigns: nothing to compare")
    changes = provenance.differences(store.read_provenance(baseline), store.read_provenance(current)) + settings_changed(store.read_manifest(baseline), store.read_manifest(current))
    return Comparison(baseline, current, changes, units,
                      {"baseline": [u for u in base_units if u not in common],
                       "current": [u for u in current_units if u not in common]}, alpha)


def settings_changed(before: dict, after: dict) -> list[str]:
    """The campaign settings that differ, by top-level key (where they were read from aside)."""
    keys = sorted(k for k in set(before) | set(after) if k != "base_dir" and before.get(k) != after.get(k))
    return [f"settings: {', '.join(keys)}"] if keys else []


def compare_unit(unit: str, base, now, alpha: float = stats.ALPHA, permutations: int = stats.PERMUTATIONS,
                 seed: int = 0) -> UnitComparison:
    """One unit's rows of ``compare.csv`` from both campaigns' gathered tables (``analysis.Tables``)."""
    from sbc_helpers.stats.calibrate import pit_values

    pairing = stats.pairing(base.ranks, base.replicates, now.ranks, now.replicates)
    rows = []
    if len(base.ranks) and len(now.ranks):
        calibration = stats.calibration_changes(base.ranks, now.ranks, pairing, alpha, permutations, seed)
        for r in calibration.itertuples():
            rows.append({"kind": "calibration", "quantity": r.quantity, "test": r.test, "baseline": r.baseline,
                         "current": r.current, "change": r.current - r.baseline, "p_value": r.p_worse,
                         "p_adjusted": r.p_adjusted, "p_changed": r.p_changed_adjusted, "worse": r.worse,
                         "n_baseline": r.n_baseline, "n_current": r.n_current})
    lost = base.ranks.loc[~base.ranks["quantity"].isin(now.ranks["quantity"] if len(now.ranks) else [])] \
        if len(base.ranks) else base.ranks
    for quantity, n in lost.groupby("quantity").size().items():  # the current campaign cannot vouch for it
        rows.append({"kind": "calibration", "quantity": quantity, "test": LOST, "worse": True, "n_baseline": n,
                     "n_current": 0})
    for kind, count in (("failed", _failed), ("flagged", _flagged)):
        (bad_b, n_b), (bad_c, n_c) = count(base.replicates), count(now.replicates)
        share = stats.share_change(bad_b, n_b, bad_c, n_c)
        rows.append({"kind": kind, "quantity": "", "test": "Fisher exact, one-sided", "baseline": share["baseline"],
                     "current": share["current"], "change": share["current"] - share["baseline"],
                     "p_value": share["p_worse"], "p_adjusted": share["p_worse"],
                     "worse": bool(share["p_worse"] < alpha), "n_baseline": n_b, "n_current": n_c})
    ok = lambda t: t.loc[t["status"] == "ok"].set_index("replicate")  # noqa: E731
    for kind, values in (("seconds_per_fit", lambda t: ok(t)["seconds"] if len(t) else pd.Series(dtype=float)),
                         ("ess_per_second", lambda t: stats.ess_per_second(t) if len(t) else pd.Series(dtype=float))):
        vb, vc = values(base.replicates), values(now.replicates)
        result = stats.ratio(vb, vc, paired=pairing.paired)
        rows.append({"kind": kind, "quantity": "", "test": "ratio of geometric means, 95% t interval of logs"
                     + (" (paired)" if pairing.paired else ""), "baseline": result["baseline"],
                     "current": result["current"], "change": result["ratio"], "low": result["low"],
                     "high": result["high"], "worse": False, "n_baseline": len(vb), "n_current": len(vc)})
    table = pd.DataFrame(rows).assign(unit=unit).reindex(columns=COLUMNS)
    curves = {}
    calibrated = table.loc[(table["kind"] == "calibration") & (table["test"] != LOST)].sort_values("p_adjusted")
    for quantity in calibrated["quantity"].head(SHOWN):
        curves[quantity] = {}
        for label, ranks in (("baseline", base.ranks), ("current", now.ranks)):
            frame = ranks.loc[ranks["quantity"] == quantity].sort_values("replicate")
            curves[quantity][label] = np.asarray(pit_values(frame))
    return UnitComparison(unit, pairing, table, curves)


def _failed(replicates: pd.DataFrame) -> tuple[int, int]:
    status = replicates["status"] if len(replicates) else pd.Series(dtype=str)
    return int(status.eq("failed").sum()), int(status.isin(["ok", "failed"]).sum())


def _flagged(replicates: pd.DataFrame) -> tuple[int, int]:
    if not len(replicates):
        return 0, 0
    ok = replicates.loc[replicates["status"] == "ok"]
    return int((ok["flags"].fillna("") != "").sum()), len(ok)


def _figure(curves: dict) -> str:
    """Both campaigns' ECDF differences on shared axes, as an embedded PNG."""
    import matplotlib.pyplot as plt

    from sbc_helpers.report import plots

    n = min(len(p) for by_label in curves.values() for p in by_label.values())
    fig = plots.ecdf_panels(curves, n)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=72)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _cell(value) -> str:
    """A table cell: numbers to 3 significant digits, missing values empty."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def write(comparison: Comparison, folder: Path | str, fail_on: tuple[str, ...] = COMPARED) -> Path:
    """Write ``compare.csv`` and ``compare.html`` into ``folder``; return the page."""
    folder = Path(folder)
    store.atomic_write(folder / "compare.csv", comparison.table.to_csv(index=False).encode())
    verdict = ("worse: " + "; ".join(w for kind in fail_on for w in comparison.worse(kind))
               if comparison.exit_code(fail_on) else "nothing got worse")
    units = []
    for unit in comparison.units:
        rows = unit.rows.drop(columns="unit")
        units.append({"name": unit.unit, "how": unit.pairing.how, "headers": list(rows.columns),
                      "figure": _figure(unit.curves) if unit.curves else None,
                      "rows": [[_cell(v) for v in row] for row in rows.itertuples(index=False)]})
    page = render("compare.html.j2", baseline=str(comparison.baseline), current=str(comparison.current),
                  verdict=verdict, fail_on=fail_on, alpha=comparison.alpha, lines=comparison.lines(), units=units)
    comparison.page = folder / "compare.html"
    store.atomic_write(comparison.page, page.encode())
    return comparison.page
