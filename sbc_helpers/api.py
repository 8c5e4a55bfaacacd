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


def check_campaign(campaign: Campaign) -> dict:
    """The preflight: raise a one-line ``ParamsError`` for anything that would fail every replicate."""
    from sbc_helpers.run.preflight import preflight

    return preflight(campaign)


@dataclass
class CampaignRun:
    """A finished ``run_campaign``: what ran, and the report's index page (None without a report)."""

    result: RunResult
    index: Path | None


def run_campaign(campaign: Campaign | str | Path, output_dir: str | Path = "outputs", *, workers: int | None = None,
                 scheduler: str | None = None, progress: bool = True, report: bool = True,
                 replicates: int | None = None, checked: dict | None = None) -> CampaignRun:
    """Check (unless ``checked`` is the preflight's result already), run every missing replicate,
    gather each unit's tables once and build the report."""
    from sbc_helpers.report import analysis
    from sbc_helpers.run import runner

    if not isinstance(campaign, Campaign):
        campaign = load_campaign(campaign, replicates=replicates)
    checked = checked if checked is not None else check_campaign(campaign)
    with runner.lock(runner.campaign_dir(campaign, output_dir)):
        result = runner.run(campaign, output_dir, workers=workers, scheduler=scheduler, progress=progress,
                            descriptions={unit: c.description for unit, c in checked.items()})
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
        rows.append({"unit": unit.name, "done": states.count("complete"), "failed": states.count("failed"),
                     "not_run": states.count("not_run"), "missing": states.count("missing")})
    return pd.DataFrame(rows)
