"""Compare two campaigns of one model: did calibration, failures, flags or cost change?

Plain functions of the gathered tables (``ranks.parquet``, ``replicates.parquet``), so the command,
the API and the tests compute the same numbers.

Calibration. Each quantity's distance from uniform is an Anderson-Darling-weighted Cramer-von Mises
distance of its ranks' ECDF, ``n * mean_g (F(g) - g)^2 / (g (1 - g))`` over at most ``GRID`` cut
points g of the rank scale: weighted towards the tails, it grows with a U shape (too narrow), a hump
(too wide) and a slope (bias) alike. The test statistic is the current distance minus the
baseline's; one-sided (``p_worse``: the current campaign is further from uniform) and two-sided
(``p_changed``). Its null distribution comes from permutations, which keep what the two campaigns
share:

- paired (both drew the same true values, replicate by replicate): each replicate's two ranks are
  swapped between the campaigns at random. With the same inference on both sides the pair is
  exchangeable, so the test is exact; with two calibrated methods each swapped rank is still
  uniform, so it stays close. Pairing removes the variation of the true values and data from the
  comparison: two fits of the same data have strongly correlated ranks.
- unpaired (different true values): the pooled ranks are shuffled between the campaigns, exact when
  both are calibrated (every rank uniform and independent).

Ranks on different scales (another ``rank_draws``) are compared as randomized PIT values, unpaired.
Holm's adjustment runs across a unit's quantities; in a unit of many quantities, those whose first
p-value (1999 permutations) is at most twice alpha are tested again with enough permutations that
an adjusted p-value can still fall below alpha.

Failures and flags: the share of failed fits (of those run) and of flagged fits (of those that
succeeded), by Fisher's exact test, one-sided for "more now". Cost: seconds per fit and ESS per
second as a ratio of geometric means, current over baseline, with a 95% t interval on the log
scale (paired on the replicates both ran when paired).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from sbc_helpers.stats import ALPHA
from sbc_helpers.stats.calibrate import holm

GRID = 50  # cut points of the ECDF distance at most: enough for its power, cheap to permute
PERMUTATIONS = 1999  # at least: p-values resolve 1/2000
TRUTH_RTOL = 1e-9


@dataclass
class Pairing:
    """Whether two units' replicates share their true values, and how that was decided."""

    paired: bool
    replicates: list[int]  # replicates both ran to completion
    how: str


def pairing(base_ranks: pd.DataFrame, base_replicates: pd.DataFrame, current_ranks: pd.DataFrame,
            current_replicates: pd.DataFrame) -> Pairing:
    """Paired when every replicate both campaigns completed has the same seed on both sides and the
    same true value of every quantity both rank (to ``TRUTH_RTOL``), and the ranks share a scale.

    Same seeds alone are not enough: a prior edited in the model (without a simulator) draws other
    true values from the same seeds. Other seeds are never paired, whatever the true values."""
    ok = lambda table: table.loc[table["status"] == "ok", ["replicate", "seed"]]  # noqa: E731
    both = ok(base_replicates).merge(ok(current_replicates), on="replicate", suffixes=("_b", "_c"))
    common = sorted(both["replicate"].astype(int))
    if not common:
        return Pairing(False, [], "no replicate completed in both campaigns")
    other_seeds = int((both["seed_b"] != both["seed_c"]).sum())
    if other_seeds:
        return Pairing(False, common, f"unpaired: {other_seeds} of {len(common)} common replicates have other seeds")
    truths = base_ranks.merge(current_ranks, on=["replicate", "quantity"], suffixes=("_b", "_c"))
    truths = truths.loc[truths["replicate"].isin(common)]
    if truths.empty:
        return Pairing(False, common, "unpaired: no quantity in common")
    same = np.isclose(truths["true_value_b"], truths["true_value_c"], rtol=TRUTH_RTOL, atol=0)
    if not same.all():
        moved = truths.loc[~same, "replicate"].nunique()
        return Pairing(False, common, f"unpaired: same seeds, but {moved} of {len(common)} common replicates "
                                      "drew other true values")
    if (truths["max_rank_b"] != truths["max_rank_c"]).any():
        return Pairing(False, common, "unpaired: same true values, but ranks among another number of draws")
    return Pairing(True, common, f"paired: {len(common)} common replicates with the same seeds and the same "
                                 f"{len(truths)} true values")


def _cuts(max_rank: int) -> np.ndarray:
    """At most ``GRID`` cut points k of ranks 0..L (P(rank <= k) = (k + 1) / (L + 1))."""
    return np.unique(np.linspace(0, max_rank - 1, min(GRID, max_rank)).round().astype(int))


def _indicators(values: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    return (values[:, None] <= cuts[None, :]).astype(np.float64)


def _distance(shares: np.ndarray, expected: np.ndarray, n) -> np.ndarray:
    """The weighted ECDF distance from uniform of rows of ECDF values at the cut points."""
    return n * np.mean((shares - expected) ** 2 / (expected * (1 - expected)), axis=-1)


def _p_values(observed: float, permuted: np.ndarray) -> tuple[float, float]:
    count = len(permuted) + 1
    worse = (1 + np.sum(permuted >= observed - 1e-12)) / count
    changed = (1 + np.sum(np.abs(permuted) >= abs(observed) - 1e-12)) / count
    return float(worse), float(changed)


def swaps(rng: np.random.Generator, permutations: int, n: int) -> np.ndarray:
    """Random swaps of ``n`` pairs, one row per permutation (1: swapped), for ``paired_test``."""
    return (rng.random((permutations, n)) < 0.5).astype(np.float32)


def memberships(rng: np.random.Generator, permutations: int, nb: int, nc: int) -> np.ndarray:
    """Random relabellings of ``nb + nc`` pooled ranks, one row per permutation (1: current), for
    ``unpaired_test``."""
    order = np.argsort(rng.random((permutations, nb + nc)), axis=1)
    members = np.zeros((permutations, nb + nc), dtype=np.float32)
    np.put_along_axis(members, order[:, :nc], 1.0, axis=1)
    return members


def paired_test(base: np.ndarray, current: np.ndarray, max_rank: int, permutations: int = PERMUTATIONS,
                seed: int = 0, swap: np.ndarray | None = None) -> dict:
    """Swap each replicate's two ranks at random: is the current distance from uniform larger?
    ``swap``: the permutations to use (``swaps``), shared by the quantities of a unit."""
    base, current = np.asarray(base), np.asarray(current)
    cuts = _cuts(max_rank)
    expected = (cuts + 1) / (max_rank + 1)
    ib, ic = _indicators(base, cuts), _indicators(current, cuts)
    n = len(base)
    observed = _distance(ic.mean(0), expected, n) - _distance(ib.mean(0), expected, n)
    swap = swaps(np.random.default_rng(seed), permutations, n) if swap is None else swap
    moved = swap @ (ib - ic).astype(np.float32)  # what swapping adds to the current side's counts (exact)
    d_current = _distance((ic.sum(0) + moved) / n, expected, n)
    d_base = _distance((ib.sum(0) - moved) / n, expected, n)
    worse, changed = _p_values(observed, d_current - d_base)
    return {"baseline": _distance(ib.mean(0), expected, n), "current": _distance(ic.mean(0), expected, n),
            "p_worse": worse, "p_changed": changed, "n_baseline": n, "n_current": n}


def unpaired_test(base: np.ndarray, current: np.ndarray, max_rank: int | tuple[int, int],
                  permutations: int = PERMUTATIONS, seed: int = 0, members: np.ndarray | None = None) -> dict:
    """Shuffle the pooled ranks between the campaigns: is the current distance from uniform larger?
    ``members``: the relabellings to use (``memberships``), shared by the quantities of a unit.

    ``max_rank``: L of both, or (L of the baseline, L of the current) when they differ, in which case
    randomized PIT values (r + U) / (L + 1) are compared on a grid of ``GRID`` points."""
    rng = np.random.default_rng(seed)
    base, current = np.asarray(base, dtype=float), np.asarray(current, dtype=float)
    if isinstance(max_rank, tuple) and max_rank[0] != max_rank[1]:
        base = (base + rng.random(len(base))) / (max_rank[0] + 1)
        current = (current + rng.random(len(current))) / (max_rank[1] + 1)
        cuts = expected = np.arange(1, GRID) / GRID
    else:
        max_rank = max_rank[0] if isinstance(max_rank, tuple) else max_rank
        cuts = _cuts(max_rank)
        expected = (cuts + 1) / (max_rank + 1)
    pooled = _indicators(np.concatenate([base, current]), cuts)
    nb, nc = len(base), len(current)
    observed_b = _distance(pooled[:nb].mean(0), expected, nb)
    observed_c = _distance(pooled[nb:].mean(0), expected, nc)
    members = memberships(rng, permutations, nb, nc) if members is None else members
    in_current = (members @ pooled.astype(np.float32)).astype(np.float64)
    permuted = (_distance(in_current / nc, expected, nc)
                - _distance((pooled.sum(0) - in_current) / nb, expected, nb))
    worse, changed = _p_values(observed_c - observed_b, permuted)
    return {"baseline": observed_b, "current": observed_c, "p_worse": worse, "p_changed": changed,
            "n_baseline": nb, "n_current": nc}


def calibration_changes(base_ranks: pd.DataFrame, current_ranks: pd.DataFrame, paired: Pairing,
                        alpha: float = ALPHA, permutations: int = PERMUTATIONS, seed: int = 0) -> pd.DataFrame:
    """One row per quantity both rank: each campaign's distance from uniform, the p-values of
    "worse" and "changed", Holm-adjusted across the quantities, and ``worse`` at ``alpha``."""
    base_by, current_by = dict(tuple(base_ranks.groupby("quantity"))), dict(tuple(current_ranks.groupby("quantity")))
    common = [q for q in pd.unique(current_ranks["quantity"]) if q in base_by]
    rng, drawn = np.random.default_rng(seed), {}

    def test(quantity: str, count: int) -> dict:
        # one set of ``count`` permutations for every quantity of the same size: each test stays
        # exact, their dependence is Holm's to handle, and drawing them is most of the cost
        b, c = base_by[quantity].sort_values("replicate"), current_by[quantity].sort_values("replicate")
        lb, lc = int(b["max_rank"].iloc[0]), int(c["max_rank"].iloc[0])
        if paired.paired:  # matched by replicate: a quantity one side lacks in a replicate leaves that pair out
            both = b.merge(c, on="replicate", suffixes=("_b", "_c"))
            both = both.loc[both["replicate"].isin(paired.replicates)]
            key = (count, len(both))
            swap = drawn[key] if key in drawn else drawn.setdefault(key, swaps(rng, count, len(both)))
            return paired_test(both["rank_b"].to_numpy(), both["rank_c"].to_numpy(), lb, count, swap=swap)
        key = (count, len(b), len(c))
        members = drawn[key] if key in drawn else drawn.setdefault(key, memberships(rng, count, len(b), len(c)))
        return unpaired_test(b["rank"].to_numpy(), c["rank"].to_numpy(), (lb, lc), count,
                             seed=int(rng.integers(2**31)), members=members)

    results = {q: test(q, permutations) for q in common}
    # Holm across m quantities needs a p-value near alpha / m to flag one: a unit of many quantities
    # tests again, with enough permutations, only those whose first p-value is near alpha or below
    # (Holm's adjusted p-value is never below the raw one, so no other can be flagged)
    enough = int(np.ceil(2 * len(common) / alpha)) - 1
    if enough > permutations:
        for quantity in [q for q, r in results.items() if r["p_worse"] <= 2 * alpha]:
            results[quantity] = test(quantity, enough)
    rows = [{"quantity": q, "test": "paired permutation" if paired.paired else "unpaired permutation", **r}
            for q, r in results.items()]
    table = pd.DataFrame(rows, columns=["quantity", "test", "baseline", "current", "p_worse", "p_changed",
                                        "n_baseline", "n_current"])
    if table.empty:
        return table.assign(p_adjusted=[], worse=[])
    table["p_adjusted"] = holm(table.set_index("quantity")["p_worse"]).to_numpy()
    table["p_changed_adjusted"] = holm(table.set_index("quantity")["p_changed"]).to_numpy()
    table["worse"] = table["p_adjusted"] < alpha
    return table


def share_change(bad_base: int, n_base: int, bad_current: int, n_current: int) -> dict:
    """Shares of bad fits in both campaigns and Fisher's exact one-sided p-value of "more now"."""
    if not n_base or not n_current:
        return {"baseline": np.nan, "current": np.nan, "p_worse": np.nan}
    table = [[bad_current, n_current - bad_current], [bad_base, n_base - bad_base]]
    return {"baseline": bad_base / n_base, "current": bad_current / n_current,
            "p_worse": float(stats.fisher_exact(table, alternative="greater").pvalue)}


def ratio(base: pd.Series, current: pd.Series, paired: bool = False, level: float = 0.95) -> dict:
    """Current over baseline geometric mean of positive values (indexed by replicate), with a t
    interval on the log scale (paired on common replicates when ``paired``)."""
    lb = np.log(pd.to_numeric(base, errors="coerce").where(lambda v: v > 0).dropna())
    lc = np.log(pd.to_numeric(current, errors="coerce").where(lambda v: v > 0).dropna())
    if len(lb) < 2 or len(lc) < 2:
        return {"baseline": np.nan, "current": np.nan, "ratio": np.nan, "low": np.nan, "high": np.nan}
    common = lb.index.intersection(lc.index)
    if paired and len(common) >= 2:
        diff = lc[common] - lb[common]
        centre, scale = diff.mean(), diff.std(ddof=1) / np.sqrt(len(diff))
        low, high = stats.t.interval(level, len(diff) - 1, loc=centre, scale=scale) if scale > 0 else (centre, centre)
    else:
        result = stats.ttest_ind(lc, lb, equal_var=False)
        low, high = result.confidence_interval(level)
        centre = lc.mean() - lb.mean()
    return {"baseline": float(np.exp(lb.mean())), "current": float(np.exp(lc.mean())),
            "ratio": float(np.exp(centre)), "low": float(np.exp(low)), "high": float(np.exp(high))}


def ess_per_second(replicates: pd.DataFrame) -> pd.Series:
    """Each completed fit's smallest bulk ESS over its seconds, by replicate (empty without ESS)."""
    ok = replicates.loc[replicates["status"] == "ok"].set_index("replicate")
    ess = pd.to_numeric(ok.get("min_ess_bulk"), errors="coerce")
    seconds = pd.to_numeric(ok.get("seconds"), errors="coerce")
    return (ess / seconds.where(seconds > 0)).dropna()
