"""Sequential stopping: apply the anytime-valid test (``stats.sequential``) to a unit's ranks as
replicates finish, in replicate-index order, and say when the unit may stop.

The rule reads the contiguous prefix of finished replicates (succeeded, or failed after their
retries: failed ones carry no ranks and are skipped), never the order workers finish in, so the
stopping point depends on the seeds alone. A unit stops when the e-process flags a quantity, when
the replicates it has ranked reach the number the target resolution needs, or at its maximum. The
same function decides at run time (``UnitMonitor``) and from the files on disk (``decide``), so a
report or a resumed run reaches the same stopping point.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from sbc_helpers.run import store
from sbc_helpers.run.params import Campaign
from sbc_helpers.stats import sequential as sq
from sbc_helpers.stats.planning import replicates_for_resolution


@dataclass
class Decision:
    """Where a unit stands: ``stopped_at`` counts the replicate indices the verdict uses (0..k-1),
    ``reason`` is ``flagged``, ``resolution``, ``maximum`` or None (not stopped yet)."""

    reason: str | None = None
    stopped_at: int | None = None
    ranked: int = 0  # succeeded replicates in the prefix
    flagged: list[str] = field(default_factory=list)
    log_e: dict[str, float] = field(default_factory=dict)  # flagged quantities' adjusted log e-values
    # (closed-mean or Bonferroni: compared with log(1/alpha)) at the stop
    threshold: float = 0.0  # 1 / alpha of the e-process
    target: int | None = None  # replicates the resolution needs

    def line(self, maximum: int) -> str:
        """Why the unit stopped, in one line."""
        if self.reason == "flagged":
            worst = max(self.log_e.values()) if self.log_e else 0.0
            return (f"stopped at {self.stopped_at} of {maximum}: flagged {', '.join(self.flagged)} "
                    f"(e-value {sq.format_e(worst)} >= {self.threshold:g})")
        if self.reason == "resolution":
            return f"stopped at {self.stopped_at} of {maximum}: the target resolution was reached"
        if self.reason == "maximum":
            return f"ran to {self.stopped_at} of {maximum}: not flagged"
        return f"{self.ranked} of {maximum} replicates so far"


class UnitMonitor:
    """The rule for one unit, fed finished replicates in any order."""

    def __init__(self, campaign: Campaign, maximum: int | None = None):
        self.campaign = campaign
        self.settings = campaign.sequential
        self.maximum = maximum or campaign.replicates
        self.finished: dict[int, pd.DataFrame | None] = {}  # replicate -> its ranks (None: failed)
        self.next = 0  # the prefix is 0..next-1
        self.monitor: sq.SequentialMonitor | None = None
        self.quantities: list[str] = []
        self.decision = Decision(threshold=1 / self.settings.alpha_sequential)

    def add(self, replicate: int, ranks: pd.DataFrame | None) -> Decision:
        """Note a finished replicate; return the decision once the unit may stop (else reason None)."""
        self.finished[replicate] = ranks
        while self.decision.reason is None and self.next in self.finished:
            ranks = self.finished.pop(self.next)
            self.next += 1
            if ranks is not None:
                self._feed(ranks)
            self._decide()
        return self.decision

    def _feed(self, ranks: pd.DataFrame) -> None:
        if self.monitor is None:
            self.quantities = list(ranks["quantity"])
            max_rank = int(ranks["max_rank"].iloc[0])
            self.monitor = sq.SequentialMonitor(len(self.quantities), max_rank, self.settings.alpha_sequential,
                                                self.settings.method)
            if self.settings.resolution:
                self.decision.target = replicates_for_resolution(
                    self.settings.resolution, max_rank, len(self.quantities), self.settings.alpha_fixed,
                    most=self.maximum)
        by_name = ranks.set_index("quantity")["rank"]
        self.monitor.update(by_name.reindex(self.quantities).to_numpy())
        self.decision.ranked += 1

    def _decide(self) -> None:
        decision = self.decision
        if self.monitor is not None and self.monitor.flagged:
            adjusted = self.monitor.log_e_adjusted
            decision.reason = "flagged"
            decision.flagged = [self.quantities[j] for j in self.monitor.flagged]
            decision.log_e = {self.quantities[j]: float(adjusted[j]) for j in self.monitor.flagged}
        elif decision.target is not None and decision.ranked >= decision.target:
            decision.reason = "resolution"
        elif self.next >= self.maximum:
            decision.reason = "maximum"
        if decision.reason:
            decision.stopped_at = self.next


def fed_monitor(campaign: Campaign, ranks: pd.DataFrame, replicates: pd.DataFrame) -> UnitMonitor:
    """A unit's monitor fed its gathered tables (succeeded ranks; every record with its status)."""
    monitor = UnitMonitor(campaign)
    finished = replicates.loc[replicates["status"].isin(["ok", "failed"]), ["replicate", "status"]]
    by_replicate = dict(tuple(ranks.groupby("replicate", sort=False))) if len(ranks) else {}
    for replicate, status in finished.sort_values("replicate").itertuples(index=False):
        decision = monitor.add(int(replicate), by_replicate.get(replicate) if status == "ok" else None)
        if decision.reason:
            break
    return monitor


def decide(campaign: Campaign, ranks: pd.DataFrame, replicates: pd.DataFrame) -> Decision:
    """The decision from a unit's gathered tables (succeeded ranks; every record with its status)."""
    return fed_monitor(campaign, ranks, replicates).decision


def unit_monitors(campaign: Campaign, folder: Path) -> dict[str, UnitMonitor]:
    """For a sequential campaign, each unit's monitor, fed the replicates already on disk."""
    if campaign.sequential is None:
        return {}
    monitors = {}
    for unit in campaign.units():
        gathered = store.gather(store.unit_dir(folder, unit.name), campaign.replicates)
        monitors[unit.name] = fed_monitor(campaign, gathered.ranks, gathered.replicates)
    return monitors


def evidence_paths(campaign: Campaign, ranks: pd.DataFrame, stopped_at: int | None) -> pd.DataFrame:
    """Each quantity's adjusted log e-value after each ranked replicate of the prefix (for the plot):
    columns ``replicate``, then one per quantity."""
    used = ranks.loc[ranks["replicate"] < stopped_at] if stopped_at is not None else ranks
    if used.empty:
        return pd.DataFrame()
    matrix = used.pivot(index="replicate", columns="quantity", values="rank").sort_index()
    max_rank = int(used["max_rank"].iloc[0])
    verdict = sq.sequential_verdict(matrix.to_numpy(), max_rank, campaign.sequential.alpha_sequential,
                                    campaign.sequential.method, stop=False)
    paths = pd.DataFrame(verdict.log_e_adjusted, index=matrix.index, columns=matrix.columns)
    return paths.reset_index()
