"""The public API: what ``sbc`` does, callable from Python (a script, or JupyterLab, where the
progress bar is a notebook widget)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from sbc_helpers.contract import CAMPAIGN_FILES, COMPARED
from sbc_helpers.run.params import Campaign, load_campaign
from sbc_helpers.run.loop import RunResult
from sbc_helpers.stats import ALPHA

log = logging.getLogger("sbc")


def check_campaign(campaign: Campaign | str | Path) -> dict:
    """The preflight: raise a one-line ``ParamsError`` for anything that would fail every replicate."""
    from sbc_helpers.run.preflight import preflight

    return preflight(campaign if isinstance(campaign, Campaign) else load_campaign(campaign))


@dataclass
class CampaignRun:
    """A finished ``run_campaign``: what ran, and the report's index page (None without a report)."""

    result: RunResult
    index: Path | None


def run_campaign(campaign: Campaign | str | Path, output_dir: str | Path = "outputs", *, workers: int | None = None,
                 scheduler: str | None = None, progress: bool = True, report: bool = True,
                 replicates: int | None = None, checked: dict | None = None, restart: bool = False) -> CampaignRun:
    """Check (unless ``checked`` is the preflight's result already), run every missing replicate,
    gather each unit's tables once and build the report. A folder holding replicates made from
    other settings is refused (``ResumeRefused``) unless ``restart`` discards them first."""
    from sbc_helpers.report import analysis
    from sbc_helpers.run import claims, runner

    if not isinstance(campaign, Campaign):
        campaign = load_campaign(campaign, replicates=replicates)
    checked = checked if checked is not None else check_campaign(campaign)
    with claims.lock(runner.campaign_dir(campaign, output_dir)):
        result = runner.run(campaign, output_dir, workers=workers, scheduler=scheduler, progress=progress,
                            restart=restart, descriptions={unit: c.description for unit, c in checked.items()})
        tables = {u.name: analysis.gather(result.campaign_dir, u.name, campaign) for u in campaign.units()}
        index = build_report(result.campaign_dir, campaign, tables) if report else None
    return CampaignRun(result=result, index=index)


def build_report(campaign_dir: str | Path, campaign: Campaign | None = None, tables: dict | None = None,
                 recompute_with: Campaign | None = None) -> Path:
    """Build a campaign's report from what is on disk; with ``recompute_with``, re-rank every
    replicate from its archive first (no refitting). Returns the index page."""
    from sbc_helpers.report.build import build
    from sbc_helpers.run import store
    from sbc_helpers.run.params import dump
    from sbc_helpers.run.recompute import recompute

    campaign_dir = Path(campaign_dir)
    if recompute_with is not None:
        log.info("recomputed %d replicates", recompute(campaign_dir, recompute_with))
        store.write_manifest(campaign_dir, dump(recompute_with), store.read_provenance(campaign_dir))
        campaign, tables = recompute_with, None
    return build(campaign_dir, campaign, tables)


def campaign_status(campaign_dir: str | Path) -> pd.DataFrame:
    """Per unit: replicates done, failed, not run and missing (never run, cut short or corrupt)."""
    from sbc_helpers.contract import replicate_path
    from sbc_helpers.run import store
    from sbc_helpers.run.params import campaign_from

    campaign_dir = Path(campaign_dir)
    campaign = campaign_from(store.read_manifest(campaign_dir), str(campaign_dir))
    rows = []
    for unit in campaign.units():
        folder = store.unit_dir(campaign_dir, unit.name)
        states = [store.state(folder, r) for r in range(campaign.replicates)]
        corrupt = [r for r, s in enumerate(states) if s == "missing" and replicate_path(folder, r, "record").exists()]
        if corrupt:
            log.warning("%s: %d corrupt replicate record(s) (replicates %s); 'sbc run' redoes them", unit.name,
                        len(corrupt), ", ".join(map(str, corrupt[:10])))
        row = {"unit": unit.name, "done": states.count("complete"), "failed": states.count("failed"),
               "not_run": states.count("not_run"), "missing": states.count("missing")}
        if campaign.sequential is not None:
            from sbc_helpers.run.sequential import decide

            gathered = store.gather(folder, campaign.replicates)
            row["sequential"] = decide(campaign, gathered.ranks, gathered.replicates).line(campaign.replicates)
        rows.append(row)
    return pd.DataFrame(rows)


RESOLUTIONS = (0.2, 0.15, 0.1, 0.05)


def plan_campaign(params: str | Path, output_dir: str | Path = "outputs", *, pilot: int | None = None,
                  workers: int | None = None, progress: bool = True,
                  resolutions: tuple[float, ...] = RESOLUTIONS) -> pd.DataFrame:
    """How many replicates each resolution needs, per unit, and how long they would take.

    Measured on the replicates already on disk, or on a pilot run of ``pilot`` replicates per unit
    (the campaign's first replicates: a later ``sbc run`` keeps them). The projection is the slowest
    (cold) replicate once, then the median replicate's worker time shared among ``workers``.
    """
    import os

    from sbc_helpers.errors import ParamsError
    from sbc_helpers.run import store
    from sbc_helpers.run.runner import campaign_dir
    from sbc_helpers.stats.planning import replicates_for_resolution

    campaign = load_campaign(params)
    if pilot:
        run_campaign(load_campaign(params, replicates=pilot), output_dir, workers=workers, progress=progress,
                     report=False)
    folder = campaign_dir(campaign, output_dir)
    workers = workers or os.cpu_count() or 1
    rows = []
    for unit in campaign.units():
        gathered = store.gather(store.unit_dir(folder, unit.name), campaign.replicates)
        if gathered.ranks.empty:
            raise ParamsError(f"{unit.name}: no finished replicates in {folder} to measure; run a pilot first "
                              f"(sbc plan {params} --pilot 20)")
        quantities = int(gathered.ranks["quantity"].nunique())
        max_rank = int(gathered.ranks["max_rank"].max())
        seconds = pd.to_numeric(gathered.replicates["wall_seconds"], errors="coerce").dropna()
        warm, cold = float(seconds.median()), float(seconds.max())
        for target in resolutions:
            n = replicates_for_resolution(target, max_rank, quantities, campaign.alpha)
            projected = None if n is None else cold - warm + n * warm / workers
            rows.append({"unit": unit.name, "quantities": quantities, "resolution": target,
                         "replicates": n if n is not None else ">20000",
                         "projected": _duration(projected), "seconds per replicate": round(warm, 2)})
    return pd.DataFrame(rows)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def compare_campaigns(baseline: str | Path, current: str | Path, *, output: str | Path | None = None,
                      alpha: float = ALPHA, fail_on: tuple[str, ...] | None = None):
    """Compare two campaign folders (``sbc compare``): the provenance diff, per unit and quantity a
    test of the change in calibration, the shares of failed and flagged fits, the costs. Writes
    ``compare.csv`` and ``compare.html`` into ``output`` (default: the current campaign's
    ``compare`` folder) and returns the ``report.compare.Comparison``; its ``exit_code(fail_on)``
    is 1 when something in ``fail_on`` got significantly worse."""
    from sbc_helpers.report import compare

    fail_on = compare.counted(fail_on or COMPARED)  # before the work
    comparison = compare.compare_campaigns(baseline, current, alpha=alpha)
    compare.write(comparison, Path(output) if output else Path(current) / compare.FOLDER, fail_on)
    return comparison


def check_folder(campaign: Campaign, baseline: str | Path, output_dir: str | Path) -> Path:
    """The folder ``sbc check`` writes, once the baseline is known to be a campaign folder that is
    not that folder (``CompareError`` or ``StoreError`` in one line, before anything is written)."""
    from sbc_helpers.errors import CompareError
    from sbc_helpers.run import store
    from sbc_helpers.run.runner import campaign_dir

    store.read_manifest(baseline)
    folder = campaign_dir(campaign, output_dir)
    if folder.resolve() == Path(baseline).resolve():
        raise CompareError(f"{folder} is the baseline: give another --output-dir")
    return folder


def check_against(campaign: Campaign | str | Path, baseline: str | Path, output_dir: str | Path = "outputs", *,
                  workers: int | None = None, progress: bool = True, report: bool = True,
                  replicates: int | None = None, alpha: float = ALPHA, fail_on: tuple[str, ...] | None = None,
                  output: str | Path | None = None, restart: bool = False):
    """``sbc check``: run ``campaign`` (sequentially, so a clear break stops early), then compare it
    with the ``baseline`` folder; returns the ``Comparison``. ``restart``: discard what the output
    folder holds first."""
    from sbc_helpers.run.params import Sequential

    if not isinstance(campaign, Campaign):
        campaign = load_campaign(campaign, replicates=replicates, sequential=True)
    else:
        campaign = campaign.model_copy(update={"sequential": campaign.sequential or Sequential(),
                                               "replicates": replicates or campaign.replicates})
    folder = check_folder(campaign, baseline, output_dir)
    run_campaign(campaign, output_dir, workers=workers, progress=progress, report=report, restart=restart)
    return compare_campaigns(baseline, folder, output=output, alpha=alpha, fail_on=fail_on)


MODEL_KEYS = ("model_kwargs", "simulator", "quantities", "conditional_on", "new_design", "reference_inference")
"""``calibrate`` keywords that go to the model's entry of a params file; the others are the campaign's."""
FILES = CAMPAIGN_FILES["calibrate_files"]  # the campaign folder's subfolder: the pickled functions, the design
SEED = 1234  # the campaign seed unless ``seed`` is given: a repeated call is the same campaign


def calibrate(model, design=None, *, replicates: int = 100, inference: dict | list | None = None,
              sequential: bool | dict = True, workers: int | None = None, output_dir: str | Path = "outputs",
              name: str | None = None, report: bool = True, restart: bool = False, progress: bool = True,
              **params) -> "Calibration":
    """SBC of ``model`` in one call: the campaign ``sbc run`` runs on the params file these settings
    make, its replicate notebooks executed by papermill on Dask, and its verdict as a ``Calibration``.

    ``model``: a builder ``f(design, **model_kwargs) -> pm.Model`` defined anywhere (a notebook
    cell's is pickled by value and shipped to the workers), a ``pm.Model``, or a reference as in a
    params file. ``design``: a DataFrame, a CSV/Parquet file, a design maker's mapping, or None (the
    campaign default). Every other key of a params file is a keyword (``seed``, ``rank_draws``,
    ``make_plots``, ...; ``model_kwargs``, ``simulator``, ``quantities`` go to the model). A call with
    more replicates resumes the last one; one with a changed model is refused unless ``restart`` (a
    ``pm.Model`` pickles differently in a new session, so it resumes only within one).
    Sequential stopping is on by default, so a broken or clearly miscalibrated model stops early.
    """
    from sbc_helpers.errors import ParamsError
    from sbc_helpers.models import by_value
    from sbc_helpers.run import claims, store
    from sbc_helpers.run.params import NAME, campaign_from

    model_name = model.rpartition(":")[2] if isinstance(model, str) else by_value.name_of(model)
    name = name or model_name
    if not re.fullmatch(NAME, str(name)):  # before it names a folder
        raise ParamsError(f"calibrate: name: {name!r} is not a valid name (letters, digits, '_', '.', '-')")
    folder = Path(output_dir) / name
    if restart and folder.is_dir():
        with claims.lock(folder):
            store.clear_campaign(folder)
    sources: dict[str, object] = {}

    def ship(obj, key: str):
        reference = by_value.reference(obj, folder / FILES, key)
        if reference != obj:
            sources[reference] = obj
        return reference

    spec = {"name": model_name, "model": ship(model, "model"),
            **{k: params.pop(k) for k in MODEL_KEYS if k in params}}
    if spec.get("simulator") is not None:
        spec["simulator"] = ship(spec["simulator"], "simulator")
    if inference is not None:
        spec["inference"] = [_with_function(i, ship) for i in inference] if isinstance(inference, list) \
            else _with_function(inference, ship)
    raw = {"name": name, "seed": SEED, "replicates": replicates, **params, "models": [spec],
           "base_dir": str(Path.cwd())}
    if design is not None:
        raw["design"] = _design(design, folder / FILES)
    if sequential:
        raw["sequential"] = sequential if isinstance(sequential, dict) else {}
    campaign = campaign_from(raw, "calibrate")
    run = run_campaign(campaign, output_dir, workers=workers, progress=progress, report=report)
    if not report:  # the tables and verdict the report would have analysed
        from sbc_helpers.report import analysis

        for unit in campaign.units():
            analysis.analyse(run.result.campaign_dir, unit, campaign)
    return Calibration(folder=run.result.campaign_dir, campaign=campaign, report=run.index, sources=sources)


def _with_function(settings: dict, ship) -> dict:
    if settings.get("function") is not None and not isinstance(settings["function"], str):
        return {**settings, "function": ship(settings["function"], "inference.function")}
    return settings


def _design(design, folder: Path):
    """A DataFrame written as Parquet (dtypes and index kept), a file by its absolute path, a
    design maker's mapping as it is."""
    if isinstance(design, pd.DataFrame):
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "design.parquet"
        data = design.to_parquet()
        if not path.is_file() or path.read_bytes() != data:
            path.write_bytes(data)
        return str(path.resolve())
    if isinstance(design, (str, Path)):
        return str(Path(design).resolve())
    return design


@dataclass
class Calibration:
    """What ``calibrate`` ran and found: the unit tables on disk, the verdict and the report.

    The tables are read from the campaign folder when asked (a later call on the same folder, with
    more replicates, changes them). With one unit (one inference method) they are that unit's; with
    several, they are stacked with a ``unit`` column and ``verdict`` maps unit -> verdict."""

    folder: Path
    campaign: Campaign
    report: Path | None = None
    sources: dict = field(default_factory=dict)  # pickled reference -> the function it was made from

    def _units(self) -> list[str]:
        return [u.name for u in self.campaign.units()]

    def _verdicts(self) -> dict[str, dict]:
        """Each unit's verdict by name (``verdict`` is one unit's when there is one)."""
        return self.verdict if len(self._units()) > 1 else {self._units()[0]: self.verdict}

    def _table(self, key: str) -> pd.DataFrame:
        from sbc_helpers.contract import UNIT_FILES
        from sbc_helpers.run import store

        frames = []
        for unit in self._units():
            path = store.unit_dir(self.folder, unit) / UNIT_FILES[key]
            frame = pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
            frames.append(frame.assign(unit=unit)[["unit", *frame.columns]])
        return frames[0].drop(columns="unit") if len(frames) == 1 else pd.concat(frames, ignore_index=True)

    @property
    def calibration(self) -> pd.DataFrame:
        return self._table("calibration")

    @property
    def ranks(self) -> pd.DataFrame:
        return self._table("ranks")

    @property
    def replicates(self) -> pd.DataFrame:
        return self._table("replicates")

    @property
    def verdict(self) -> dict:
        from sbc_helpers.report.analysis import read_verdict
        from sbc_helpers.run import store

        verdicts = {unit: read_verdict(store.unit_dir(self.folder, unit)) for unit in self._units()}
        return next(iter(verdicts.values())) if len(verdicts) == 1 else verdicts

    def _repr_html_(self) -> str:
        import base64
        from html import escape

        from sbc_helpers.contract import UNIT_FILES
        from sbc_helpers.run import store

        parts = [f"<h4>SBC of {escape(self.campaign.name)}</h4>"]
        verdicts = self._verdicts()
        for unit, verdict in verdicts.items():
            line = (f"{verdict['verdict']} ({verdict['done']} of {verdict['replicates']} replicates done, "
                    f"{verdict['failed']} failed)")
            parts.append(f"<p><b>{escape(unit)}</b>: {escape(line)}</p>")
            thumbnail = store.unit_dir(self.folder, unit) / UNIT_FILES["thumbnail"]
            if thumbnail.is_file():
                data = base64.b64encode(thumbnail.read_bytes()).decode()
                parts.append(f'<img alt="ECDF differences of {escape(unit)}" src="data:image/png;base64,{data}">')
        parts.append(self.calibration.to_html(index=False, escape=True, float_format=lambda v: f"{v:.3g}"))
        if self.report is not None:
            parts.append(f'<p><a href="{escape(self.report.as_posix())}" target="_blank">the report: '
                         f"{escape(str(self.report))}</a></p>")
        return "\n".join(parts)

    def to_yaml(self, path: str | Path) -> Path:
        """Write a params file that reproduces this campaign with ``sbc run``: a function that was
        pickled is saved beside it as a module of its source, a DataFrame design as Parquet."""
        import shutil

        import yaml

        from sbc_helpers.models import by_value

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        renamed = {}
        for reference, obj in self.sources.items():
            module = f"{by_value.name_of(obj)}.py"
            (path.parent / module).write_text(by_value.source_module(obj))
            renamed[reference] = f"{module}:{obj.__name__}"
        design = self.folder / FILES / "design.parquet"
        if design.is_file():
            shutil.copyfile(design, path.parent / f"{self.campaign.name}_design.parquet")
            renamed[str(design.resolve())] = f"{self.campaign.name}_design.parquet"
        settings = self.campaign.model_dump(mode="json", exclude_defaults=True, exclude={"base_dir"})
        settings = {"name": self.campaign.name, "seed": self.campaign.seed, **settings}
        path.write_text(yaml.safe_dump(_renamed(settings, renamed), sort_keys=False))
        return path


def _renamed(value, renamed: dict):
    if isinstance(value, dict):
        return {k: _renamed(v, renamed) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, renamed) for v in value]
    return renamed.get(value, value) if isinstance(value, str) else value


def check_calibration(model, design=None, *, replicates: int = 50, baseline: str | Path | None = None,
                      alpha: float = ALPHA, fail_on: tuple[str, ...] = COMPARED,
                      progress: bool = False, **params) -> "CalibrationCheck":
    """SBC as a check a package's test suite asserts on: ``calibrate`` without the report, and with
    a ``baseline`` campaign folder, the comparison with it (``compare_campaigns``)::

        check = sbc.check_calibration(build, design, replicates=30, output_dir=tmp_path, ...)
        assert check.ok, check.failures

    Every keyword of ``calibrate`` is taken (``inference``, ``seed``, ``workers``, ``output_dir``...).
    """
    from sbc_helpers.report.compare import counted

    fail_on = counted(fail_on)  # a typo fails before the campaign runs
    result = calibrate(model, design, replicates=replicates, report=False, progress=progress, **params)
    check = CalibrationCheck(folder=result.folder, campaign=result.campaign, sources=result.sources, alpha=alpha,
                             fail_on=fail_on)
    if baseline is not None:
        check.compare(baseline)
    return check


@dataclass
class CalibrationCheck(Calibration):
    """A ``Calibration`` with what a test asserts: ``ok``, and ``failures`` saying why not.

    Not ok when a unit's verdict is miscalibrated, a replicate failed, or (after ``compare``) the
    comparison with a baseline finds something in ``fail_on`` significantly worse."""

    alpha: float = ALPHA
    fail_on: tuple[str, ...] = COMPARED
    comparison: object = None  # report.compare.Comparison, after ``compare``

    @property
    def failures(self) -> list[str]:
        """One line per problem; empty when ``ok``."""
        verdicts = self._verdicts()
        lines = []
        for unit, verdict in verdicts.items():
            if not verdict["calibrated"]:
                lines.append(f"{unit}: {verdict['verdict']}")
            if verdict["failed"]:
                top = verdict["failures"][0] if verdict["failures"] else {}
                lines.append(f"{unit}: {verdict['failed']} of {verdict['replicates']} replicates failed "
                             f"({top.get('error')}: {top.get('message')})")
        if self.comparison is not None:
            lines += [f"worse than the baseline: {w}" for kind in self.fail_on for w in self.comparison.worse(kind)]
        return lines

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def table(self) -> pd.DataFrame:
        """The calibration table (``calibration.csv``)."""
        return self.calibration

    def compare(self, baseline: str | Path, output: str | Path | None = None):
        """Compare this campaign with the ``baseline`` folder; the ``Comparison`` (kept, so ``ok``
        and ``failures`` count it)."""
        self.comparison = compare_campaigns(baseline, self.folder, output=output, alpha=self.alpha,
                                            fail_on=self.fail_on)
        return self.comparison
