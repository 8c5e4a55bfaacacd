"""Calibrate: turn per-replicate ranks into uniformity tests and a verdict per quantity.

Everything here is a plain function of the tidy ranks table, so the summary notebook, the report
and the tests compute the same numbers. How many replicates a verdict needs is in ``planning``,
what the plots draw in ``plot_data``.
"""

from functools import lru_cache

import arviz_stats  # noqa: F401  (registers the .azstats accessor)
import numpy as np
import pandas as pd
import xarray as xr
from scipy import special, stats

from sbc_helpers.contract import CALIBRATION, CALIBRATION_COLUMNS
from sbc_helpers.stats import ALPHA
from sbc_helpers.stats.ranks import TIE_RTOL


def pit_values(ranks: pd.DataFrame, seed: int = 0) -> pd.Series:
    """Continuous PIT values (r + U) / (L + 1) in (0, 1) from integer ranks on 0..L.

    ``azstats.uniformity_test`` needs values in (0, 1); fed raw ranks its p-values mean nothing.
    """
    rng = np.random.default_rng(seed)
    u = rng.uniform(size=len(ranks))
    return (ranks["rank"].to_numpy() + u) / (ranks["max_rank"].to_numpy() + 1)


def uniformity_p_values(ranks: pd.DataFrame, seed: int = 0) -> pd.Series:
    """ArviZ's pointwise uniformity test (pot_c) on each quantity's PIT values (those of
    ``pit_dataset``), tested as one array per replicate count: a Dataset of a variable per
    quantity costs time quadratic in the quantities."""
    frame = ranks.sort_values(["quantity", "replicate"])
    frame = frame.assign(pit=pit_values(frame, seed))
    counts = frame.groupby("quantity", sort=False).size()
    out = {}
    for n, names in counts.groupby(counts).groups.items():
        chosen = frame.loc[frame["quantity"].isin(names)]
        order = list(dict.fromkeys(chosen["quantity"]))
        pit = xr.Dataset({"pit": (("quantity", "chain", "draw"), chosen["pit"].to_numpy().reshape(len(order), 1, n))},
                         coords={"quantity": order})
        p_values, *_ = pit.azstats.uniformity_test(dim=["chain", "draw"])
        out.update(zip(order, p_values["pit"].to_numpy().astype(float), strict=True))
    return pd.Series({q: out[q] for q in counts.index}, name="p_value")


def chi2_bins(max_rank: int, n: int, max_bins: int = 20) -> np.ndarray:
    """Bin edges over ranks 0..L for a chi-square test: >= 5 expected in every bin.

    The rule (Stan User's Guide) asks for J bins with L + 1 divisible by J; when L + 1 has no such
    divisor (L = 100 gives the prime 101) contiguous near-equal bins are used, as many as keep the
    narrowest bin at 5 expected; their expected counts are exact, which keeps the test valid.
    """
    size = max_rank + 1
    for n_bins in range(min(max_bins, size), 1, -1):
        if size % n_bins == 0 and n * (size // n_bins) / size >= 5:
            return np.arange(0, size + 1, size // n_bins)
    for n_bins in range(min(max_bins, size), 1, -1):
        if n * (size // n_bins) / size >= 5:
            return np.round(np.linspace(0, size, n_bins + 1)).astype(int)
    return np.array([0, size // 2, size])


def chi2_p_value(rank_values: np.ndarray, max_rank: int) -> float:
    """Pearson chi-square test of ranks 0..L against the discrete uniform, binned by ``chi2_bins``."""
    edges = chi2_bins(max_rank, len(rank_values))
    observed, _ = np.histogram(rank_values, bins=edges)
    expected = len(rank_values) * np.diff(edges) / (max_rank + 1)
    # scipy.stats.chisquare's statistic and p-value, without its per-call checks (a model of
    # thousands of quantities calls this thousands of times)
    return float(special.chdtrc(len(observed) - 1, ((observed - expected) ** 2 / expected).sum()))


def gamma_statistic(rank_values: np.ndarray, max_rank: int) -> float:
    """Säilynoja et al.'s gamma: 2 * min_i min(F(R_i; N, z_i), 1 - F(R_i - 1; N, z_i)).

    R_i counts ranks below i and z_i = i / (L + 1), i = 1..L; small gamma means the rank ECDF
    leaves its simultaneous band somewhere.
    """
    rank_values = np.asarray(rank_values)
    below = np.cumsum(np.bincount(rank_values, minlength=max_rank + 1))[:-1]
    return float(pointwise_p_values(len(rank_values), max_rank)[np.arange(max_rank), below].min())


@lru_cache(maxsize=8)
def pointwise_p_values(n: int, max_rank: int) -> np.ndarray:
    """Two-sided binomial p-value of R_i = k, for i = 1..L (rows) and k = 0..n (columns)."""
    z = np.arange(1, max_rank + 1)[:, None] / (max_rank + 1)
    k = np.arange(n + 1)[None, :]
    return 2 * np.minimum(stats.binom.cdf(k, n, z), stats.binom.sf(k - 1, n, z))


def interval_ends(inside: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last True column of each row (each row's Trues are one interval of counts)."""
    return inside.argmax(axis=1), inside.shape[1] - 1 - inside[:, ::-1].argmax(axis=1)


# Below this, gamma's p-value is reported as its Bonferroni bound L * gamma (>= the exact value, so
# still a valid p-value): the exact recursion would need states far out in the binomial tails, and
# no decision changes between 1e-10 and the exact, smaller value.
EXACT_P_FLOOR = 1e-10


def gamma_null_cdf(g: float, n: int, max_rank: int) -> float:
    """P(gamma <= g) for ``n`` uniform ranks on 0..L, computed exactly (no simulation).

    gamma > g exactly when every R_i stays inside the interval of counts whose pointwise p-value
    exceeds g. Under uniform ranks, R_i given R_{i-1} = a is a + Binomial(n - a, 1 / (L + 2 - i)),
    so the probability of staying inside follows by a recursion over i on the inside counts only.
    The mass that leaves at each step is summed directly, which keeps small p-values accurate.
    Written by hand: SBC (R) runs the same kind of recursion (``adjust_gamma_optimize``) only to set
    its plot band's level, and ArviZ sets its band by simulation; neither gives the p-value of an
    observed gamma, and a simulated one cannot go below one over the number of simulations.
    """
    return float(gamma_null_cdfs(np.array([g]), n, max_rank)[0])


def gamma_null_cdfs(gs: np.ndarray, n: int, max_rank: int) -> np.ndarray:
    """``gamma_null_cdf`` at each of ``gs``, in one recursion (a model's quantities share n and L).

    The states at step i are the union of every g's inside interval; each g's mass is zero outside
    its own. The mass leaving g's interval is the binomial tail beyond the union (cdf, sf) plus the
    partial sums of the transition probabilities between the union's edge and g's: sums of
    positive terms, as accurate as the one-g recursion, which is this with a single g."""
    from scipy.stats import binom

    gs = np.asarray(gs, dtype=float)
    out = np.ones(len(gs))
    pointwise = pointwise_p_values(n, max_rank)
    live, ends = np.zeros(len(gs), dtype=bool), []
    for j, g in enumerate(gs):
        inside = pointwise > g
        if inside.any(axis=1).all():  # else some R_i cannot stay inside: gamma <= g for sure
            live[j] = True
            ends.append(interval_ends(inside))
    if not live.any():
        return out
    lows, highs = np.array([e[0] for e in ends]), np.array([e[1] for e in ends])  # (G, L)
    mass, states, left = np.ones((len(lows), 1)), np.zeros(1, dtype=int), np.zeros(len(lows))
    for i in range(1, max_rank + 1):
        q, remaining = 1 / (max_rank + 2 - i), n - states
        low, high = lows[:, i - 1], highs[:, i - 1]
        nxt = np.arange(low.min(), high.max() + 1)
        step = binom.pmf(nxt[None, :] - states[:, None], remaining[:, None], q)  # (states, nxt)
        below = binom.cdf(nxt[0] - 1 - states, remaining, q)
        above = binom.sf(nxt[-1] - states, remaining, q)
        cumulative = np.cumsum(step, axis=1)
        from_top = np.cumsum(step[:, ::-1], axis=1)[:, ::-1]
        lo, hi = low - nxt[0], high - nxt[0]
        leave = below[None, :] + above[None, :]
        leave = leave + np.where(lo[:, None] > 0, cumulative[:, np.maximum(lo - 1, 0)].T, 0.0)
        leave = leave + np.where(hi[:, None] < len(nxt) - 1, from_top[:, np.minimum(hi + 1, len(nxt) - 1)].T, 0.0)
        left += (mass * leave).sum(axis=1)
        kept = (nxt[None, :] >= low[:, None]) & (nxt[None, :] <= high[:, None])
        mass = (mass @ step) * kept
        states = nxt
    out[live] = np.minimum(1.0, left)
    return out


def gamma_p_value(rank_values: np.ndarray, max_rank: int) -> float:
    """P(gamma_null <= gamma) under uniform ranks, exact (``gamma_null_cdf``).

    (ArviZ's pot_c test rejects uniform ranks more often than its nominal level, so the verdict
    does not rest on it; see the docs' validation page.)
    """
    return float(gamma_p_values(np.array([gamma_statistic(rank_values, max_rank)]), len(rank_values), max_rank)[0])


def gamma_p_values(gammas: np.ndarray, n: int, max_rank: int) -> np.ndarray:
    """``gamma_p_value`` of observed gammas of ``n`` ranks on 0..L: one recursion for their
    distinct values (``gamma_null_cdfs``), the Bonferroni bound L * gamma below ``EXACT_P_FLOOR``."""
    gammas = np.asarray(gammas, dtype=float)
    bound = max_rank * gammas
    exact = bound >= EXACT_P_FLOOR
    distinct, where = np.unique(gammas[exact], return_inverse=True)
    p = bound.copy()
    p[exact] = gamma_null_cdfs(distinct, n, max_rank)[where]
    return p


@lru_cache(maxsize=64)
def gamma_critical(n: int, max_rank: int, alpha: float = ALPHA) -> float:
    """The smallest value gamma can take with P(gamma_null <= it) >= ``alpha``: gamma below it
    is exactly a gamma p-value below ``alpha``."""
    support = np.unique(pointwise_p_values(n, max_rank))
    # P(gamma <= g) <= L * g (Bonferroni), so the answer is at least alpha / L; smaller values,
    # whose recursion spans nearly every count, need not be tried
    support = support[support >= alpha / max_rank]
    lo, hi = 0, len(support) - 1  # bisection over gamma's possible values; the cdf grows with them
    while lo < hi:
        mid = (lo + hi) // 2
        if gamma_null_cdf(support[mid], n, max_rank) >= alpha:
            hi = mid
        else:
            lo = mid + 1
    return float(support[lo])


def holm(p_values: pd.Series) -> pd.Series:
    """Holm's step-down adjustment: family-wise error control across a model's quantities."""
    order = p_values.sort_values()
    m = len(order)
    adjusted = np.minimum(1, np.maximum.accumulate((m - np.arange(m)) * order.to_numpy()))
    return pd.Series(adjusted, index=order.index).reindex(p_values.index)


def calibration_table(ranks: pd.DataFrame, alpha: float = ALPHA, seed: int = 0) -> pd.DataFrame:
    """One row per quantity: the uniformity tests and a multiplicity-aware verdict.

    ``p_value`` is ArviZ's pot_c uniformity test, ``chi2_p_value`` the binned chi-square test and
    ``log_gamma_ratio`` log(gamma / gamma at ``alpha``) (negative: outside the simultaneous band).
    A quantity is ``calibrated`` unless its gamma p-value, Holm-adjusted across the model's
    quantities (``p_adjusted``), falls below ``alpha``.
    """
    columns = [c.name for c in CALIBRATION if not c.reading]
    if ranks.empty:
        return pd.DataFrame(columns=columns)
    p_values = uniformity_p_values(ranks, seed)
    rows = []
    for quantity, group in ranks.groupby("quantity", sort=False):
        r = group["rank"].to_numpy()
        max_rank = int(group["max_rank"].iloc[0])
        gamma = gamma_statistic(r, max_rank)
        rows.append(
            {
                "quantity": quantity,
                "variable": group["variable"].iloc[0],
                "n_replicates": len(r),
                "p_value": p_values[quantity],
                "chi2_p_value": chi2_p_value(r, max_rank),
                "log_gamma_ratio": float(np.log(max(gamma, 1e-300) / gamma_critical(len(r), max_rank, alpha))),
                "gamma": gamma,
                "max_rank": max_rank,
            }
        )
    table = pd.DataFrame(rows)
    table["gamma_p_value"] = np.nan
    for (n, max_rank), group in table.groupby(["n_replicates", "max_rank"]):  # one recursion per (n, L)
        table.loc[group.index, "gamma_p_value"] = gamma_p_values(group["gamma"].to_numpy(), int(n), int(max_rank))
    table = table.drop(columns=["gamma", "max_rank"])
    table["p_adjusted"] = holm(table.set_index("quantity")["gamma_p_value"]).to_numpy()
    table["calibrated"] = table["p_adjusted"] >= alpha
    return table[columns]


def calibration_report(ranks: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """``calibration.csv``: the calibration table with each quantity's shape reading and its worst
    replicate, in ``contract.CALIBRATION``'s columns."""
    table = calibration_table(ranks, alpha)
    if table.empty:
        return pd.DataFrame(columns=CALIBRATION_COLUMNS)
    readings = table["quantity"].map(shape_reading(ranks, alpha).set_index("quantity")["reading"])
    # shapes are read with unadjusted z-tests: describe only what the verdict flags
    readings = readings.where(~table["calibrated"], "uniform (not flagged)")
    table = table.assign(reading=readings, worst_replicate=table["quantity"].map(worst_replicates(ranks)))
    return table[CALIBRATION_COLUMNS]


MIN_READING_REPLICATES = 20


def shape_reading(ranks: pd.DataFrame, alpha: float = ALPHA, seed: int = 0) -> pd.DataFrame:
    """Read each quantity's rank shape in words, from the PIT values' mean and spread.

    Under uniformity PIT has mean 1/2 and variance 1/12. A mean above 1/2 means true values sit high
    in their posteriors (the posterior is biased low), below 1/2 the reverse; a variance above 1/12
    is a U shape (posterior too narrow, overconfident), below it a hump (too wide). Each departure
    is read only when its z-test rejects at ``alpha``, and only from ``MIN_READING_REPLICATES``
    replicates on (the z-tests lean on the central limit theorem).
    """
    frame = ranks.assign(pit=pit_values(ranks, seed))
    rows = []
    for quantity, group in frame.groupby("quantity", sort=False):
        pit, n = group["pit"].to_numpy(), len(group)
        z_mean = (pit.mean() - 0.5) / np.sqrt(1 / 12 / n)
        z_var = (pit.var(ddof=1) - 1 / 12) / np.sqrt(1 / 180 / n)  # Var of (U - 1/2)^2 is 1/180
        critical = stats.norm.ppf(1 - alpha / 2)
        words = []
        if z_mean > critical:
            words.append("biased low (true values sit high in the posterior)")
        elif z_mean < -critical:
            words.append("biased high (true values sit low in the posterior)")
        if z_var > critical:
            words.append("too narrow (U shape: overconfident)")
        elif z_var < -critical:
            words.append("too wide (hump: underconfident)")
        reading = "; ".join(words) or "no clear shape"
        if n < MIN_READING_REPLICATES:
            reading = f"too few replicates to read (n < {MIN_READING_REPLICATES})"
        rows.append({"quantity": quantity, "z_mean": z_mean, "z_spread": z_var, "reading": reading})
    return pd.DataFrame(rows)


def constant_quantities(ranks: pd.DataFrame) -> list[str]:
    """Quantities that test nothing: in every replicate (at least two) the true value is the same
    and the posterior is a point at it, such as a correlation matrix's diagonal.

    Their ranks are ties broken at random, uniform whatever the model and its inference, so leaving
    them out changes only how many quantities the multiplicity correction counts. A true value that
    is constant with a posterior that is not (a simulator that fixes what the model gives a prior)
    stays tested, and is flagged.
    """
    if ranks.empty:
        return []
    tolerance = TIE_RTOL * ranks["true_value"].abs()  # a NaN true value compares False: never a point
    point = ((ranks["post_mean"] - ranks["true_value"]).abs() <= tolerance) & (ranks["post_sd"] <= tolerance)
    by = ranks.assign(point=point).groupby("quantity", sort=False)
    truth = by["true_value"]
    constant = (truth.count() >= 2) & (truth.max() - truth.min() <= truth.apply(lambda v: TIE_RTOL * v.abs().max())) \
        & by["point"].all()
    return list(constant.index[constant])


def worst_replicates(ranks: pd.DataFrame) -> pd.Series:
    """Per quantity, the replicate whose true value lies furthest out in its posterior (max |z|; a
    point posterior is 0 away from an equal true value and infinitely far from any other)."""
    distance = (ranks["true_value"] - ranks["post_mean"]).abs().to_numpy(dtype=float)
    sd = ranks["post_sd"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = distance / sd
    z[(sd == 0) & (distance == 0)] = 0.0
    z = pd.Series(np.nan_to_num(z, nan=-np.inf, posinf=np.inf), index=ranks.index)  # no sd: never the worst
    return ranks.loc[z.groupby(ranks["quantity"]).idxmax(), ["quantity", "replicate"]].set_index("quantity")["replicate"]
