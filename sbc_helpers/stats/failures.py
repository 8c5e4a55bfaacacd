"""Failures and flags mapped to parameters: do failed or flagged fits sit somewhere particular in
parameter space?

The verdict is read from the ranks of every completed replicate, flagged fits included; failed
replicates have no ranks. When failed fits concentrate in a region (a funnel's neck, large counts),
the verdict says nothing about that region; where flagged fits concentrate, it rests on fits whose
diagnostics are suspect there (the report says whether leaving them out changes it). Per test
quantity, the true values of the failed or flagged replicates are compared with the clean ones' by
a two-sided Mann-Whitney U test, Holm-adjusted across the quantities.

True values: a clean or flagged replicate's come from its ranks; a failed replicate's from the truth
side-car its notebook wrote before the fit (``Record.truth``), for the ranked model variables only
(not derived quantities or the log-likelihood, which need draws or the fit). A replicate that failed
before its truth was drawn has none: it counts in ``n_failed`` but not in the test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from sbc_helpers.contract import FAILURES_BY_QUANTITY_COLUMNS, TRUTHS_COLUMNS
from sbc_helpers.stats import ALPHA
from sbc_helpers.stats.calibrate import holm

MIN_GROUP = 3
"""Fewer true values than this in either group: no test (p-value NaN)."""


def truth_outcomes(ranks: pd.DataFrame, replicates: pd.DataFrame, failed_truths: pd.DataFrame | None) -> pd.DataFrame:
    """Every replicate's true values with its ``outcome`` (failed, flagged or clean) and divergences."""
    if replicates.empty:
        return pd.DataFrame(columns=TRUTHS_COLUMNS)
    info = replicates.set_index("replicate")
    flags = info.get("flags", pd.Series("", index=info.index)).fillna("")
    outcome = pd.Series(np.where(flags != "", "flagged", "clean"), index=info.index)
    outcome = outcome.where(info["status"] != "failed", "failed")
    ok = ranks[["replicate", "quantity", "true_value"]] if len(ranks) else pd.DataFrame(
        columns=["replicate", "quantity", "true_value"])
    frames = [ok] + ([failed_truths] if failed_truths is not None and len(failed_truths) else [])
    truths = pd.concat(frames, ignore_index=True)
    truths = truths.loc[truths["replicate"].isin(outcome.index)]
    divergences = pd.to_numeric(info.get("divergences", pd.Series(np.nan, index=info.index)), errors="coerce")
    truths = truths.assign(outcome=truths["replicate"].map(outcome).to_numpy(),
                           divergences=truths["replicate"].map(divergences).to_numpy())
    return truths[TRUTHS_COLUMNS].reset_index(drop=True)


def _mann_whitney(truths: pd.DataFrame) -> pd.Series:
    """Two-sided Mann-Whitney U p-value of each quantity's (failed or flagged) true values against
    its clean ones, NaN below ``MIN_GROUP`` in either group: one vectorized test for the
    quantities that share their groups' sizes (most do: a replicate's truth holds every quantity)."""
    clean = truths["outcome"].eq("clean")
    sizes = pd.DataFrame({"bad": (~clean).groupby(truths["quantity"], sort=False).sum(),
                          "clean": clean.groupby(truths["quantity"], sort=False).sum()})
    p = pd.Series(np.nan, index=sizes.index)
    testable = sizes.loc[sizes.min(axis=1) >= MIN_GROUP]
    ordered = truths.assign(clean=clean).sort_values(["quantity", "clean"], kind="stable")  # bad values first
    for (n_bad, n_clean), group in testable.groupby(["bad", "clean"]):
        values = ordered.loc[ordered["quantity"].isin(group.index)]
        names = pd.unique(values["quantity"])
        matrix = values["true_value"].to_numpy(float).reshape(len(names), n_bad + n_clean)
        p.loc[names] = stats.mannwhitneyu(matrix[:, :n_bad], matrix[:, n_bad:], alternative="two-sided",
                                          axis=1).pvalue
    return p


def failure_dependence(truths: pd.DataFrame, n_failed: int | None = None, alpha: float = ALPHA) -> pd.DataFrame:
    """Per quantity: do the true values of failed or flagged replicates differ from clean ones'?

    ``truths``: ``truth_outcomes``' table. ``n_failed``: every failed replicate of the unit,
    those without true values included (default: those in ``truths``). ``p_value`` is the two-sided
    Mann-Whitney U test of (failed or flagged) against clean, NaN when either group has fewer than
    ``MIN_GROUP`` values; ``p_adjusted`` is Holm's across the tested quantities; ``direction`` says
    whether the failed or flagged replicates' median true value is ``high`` or ``low`` against the clean ones';
    ``depends`` is ``p_adjusted < alpha``.
    """
    if truths.empty:
        return pd.DataFrame(columns=FAILURES_BY_QUANTITY_COLUMNS)
    outcome, quantity = truths["outcome"], truths["quantity"]
    count = lambda mask: mask.groupby(quantity, sort=False).sum().astype(int)  # noqa: E731
    median = lambda mask: truths["true_value"].where(mask).groupby(quantity, sort=False).median()  # noqa: E731
    table = pd.DataFrame({"n_failed": count(outcome.eq("failed")), "n_flagged": count(outcome.eq("flagged")),
                          "n_ok": count(outcome.eq("clean")), "median_bad": median(outcome.ne("clean")),
                          "median_clean": median(outcome.eq("clean"))})
    if n_failed is not None:
        table["n_failed"] = int(n_failed)
    table["p_value"] = _mann_whitney(truths)
    table["direction"] = np.where(table["p_value"].isna(), "",
                                  np.where(table["median_bad"] > table["median_clean"], "high", "low"))
    table = table.rename_axis("quantity").reset_index()
    tested = table["p_value"].notna()
    table["p_adjusted"] = np.nan
    if tested.any():
        table.loc[tested, "p_adjusted"] = holm(table.loc[tested, "p_value"]).to_numpy()
    table["depends"] = table["p_adjusted"].lt(alpha)
    return table.sort_values("p_adjusted", na_position="last")[FAILURES_BY_QUANTITY_COLUMNS].reset_index(drop=True)


def dependence_line(table: pd.DataFrame, top: int = 3, flagged_change: bool | None = None) -> str:
    """One sentence when failures or flags depend on a parameter, else ''.

    Failed fits are not in the verdict: "fits fail when mu is high: the verdict does not cover that
    region". Flagged fits are: the sentence says so and, given ``flagged_change`` (the ``changed`` of
    ``report.analysis.sensitivity``: True, False, or None when every fit is flagged), whether the
    verdict changes without them."""
    hits = table.loc[table["depends"].astype(bool)] if len(table) else table
    if hits.empty:
        return ""
    failed, flagged = int(hits["n_failed"].max()), int(hits["n_flagged"].max())
    what = ("fail or are flagged" if failed and flagged else "fail" if failed else "are flagged")
    where = ", ".join(f"{q} is {d}" for q, d in zip(hits["quantity"].head(top), hits["direction"].head(top),
                                                     strict=True))
    more = f" (and {len(hits) - top} more)" if len(hits) > top else ""
    region = "that region" if len(hits) == 1 else "those regions"
    change = {True: ", and changes without them", False: ", and does not change without them",
              None: ""}[flagged_change]
    if failed and flagged:
        cover = f"the verdict leaves out the failed fits and includes the flagged ones{change}"
    elif failed:
        cover = f"the verdict does not cover {region}"
    else:
        cover = f"the verdict includes these fits{change}"
    return f"fits {what} when {where}{more}: {cover}"
