"""The public API: what ``sbc`` does, callable from Python (a script, or JupyterLab, where the
progress bar is a notebook widget)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sbc_helpers.run.params import Campaign, load_campaign
from sbc_helpers.run.runner import RunResult

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
    from sbc_helpers.run import runner

    if not isinstance(campaign, Campaign):
        campaign = load_campaign(campaign, replicates=replicates)
    checked = checked if checked is not None else check_campaign(campaign)
    with runner.lock(runner.campaign_dir(campaign, output_dir)):
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
        store.write_manifest(campaign_dir, dump(recompute_with))
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
    from sbc_helpers.stats.calibrate import replicates_for_resolution

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
