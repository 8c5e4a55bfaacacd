"""Sequential (anytime-valid) test of SBC rank uniformity: e-processes per quantity, combined across
quantities with family-wise error control, checkable after every replicate.

Why: the fixed-N gamma + Holm verdict (``stats.calibrate``) is valid only when looked at once.
Looking again as replicates accumulate inflates false alarms. An e-process E_n (nonnegative, E_0 = 1,
a supermartingale under the null) can be looked at after every replicate: by Ville's inequality
P(sup_n E_n >= 1/alpha) <= alpha (Ramdas, Grunwald, Vovk & Shafer 2023, Statist. Sci.).

Construction, per quantity (ranks r_1, r_2, ... on 0..L, in replicate-index order):

    E_n = 1/2 * PLUGIN_n + 1/2 * EDGE_n,      PLUGIN_n, EDGE_n = prod_{i<=n} q_i(r_i) / (1 / (L + 1))

* PLUGIN: q_i is a beta-binomial(L, a_i, b_i) pmf whose (a_i, b_i) match the first two moments of
  r_1..r_{i-1} shrunk towards the uniform with ``n0`` pseudo-replicates (a predictable plug-in bet;
  Waudby-Smith & Ramdas 2024, JRSS-B; the "prequential plug-in" of Grunwald, de Heide & Koolen 2024,
  JRSS-B). Uniform ranks are beta-binomial(L, 1, 1), and the usual failures (posterior too narrow:
  U shape; too wide: hump; biased: slope) are close to beta-binomial (a normal posterior with its sd
  scaled by k has PIT density ~ Beta(k^2, k^2) near the ends), so the bet learns the right shape.
* EDGE: a Dirichlet-multinomial predictive on three bins {lowest w ranks}, {middle}, {highest w
  ranks} (w = max(1, round((L+1)/100))), Dirichlet(c * 3 * p_k) with null bin probabilities
  p_k = size_k / (L + 1) exact. It catches spikes at the extreme ranks that are not beta-shaped
  (a share of replicates whose fit is stuck or whose draws are autocorrelated; Talts et al. 2018).

Each factor q_i(r) / (1/(L+1)) has null expectation exactly 1 because q_i is a pmf on 0..L fixed
before r_i is seen, so each product is a test martingale, and so is their average. Ranks are used
directly: no randomised PIT, so the verdict is a deterministic function of the ranks.

Combining m quantities (the ranks of one replicate are dependent; replicates are independent, so
each E^(j) is a martingale for the joint filtration of all quantities under its own null):

* ``"bonferroni"``: flag j when E^(j) >= m / alpha.
* ``"closed-mean"`` (default): closed testing with the arithmetic mean of e-values as the test of
  each intersection hypothesis (Vovk & Wang 2021, Ann. Statist.): flag j when
  min_{S containing j} mean_{i in S} E^(i) >= 1 / alpha. The mean of e-processes of true nulls is
  an e-process, so FWER <= alpha under any dependence, also under continuous monitoring; it flags
  everything Bonferroni flags and more when several quantities are bad.

Everything is computed in log space (E can reach 1e300 and beyond for a badly broken model).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import special

from sbc_helpers.stats import ALPHA

N0 = 20.0  # pseudo-replicates of the uniform that the plug-in's moments start from
EDGE_CONCENTRATION = 1.0  # Dirichlet(c * K * p_k) on the edge bins: small pseudo-counts at the edges
WEIGHTS = (0.5, 0.5)  # prior weights of (PLUGIN, EDGE)
METHODS = ("closed-mean", "bonferroni")
_S_RANGE = (0.05, 1e4)  # a + b of the plug-in beta-binomial: from a sharp U to nearly binomial
_MU_RANGE = (1e-3, 1 - 1e-3)


# --- checks -------------------------------------------------------------------------------------


def _as_ranks(ranks, max_rank: int) -> np.ndarray:
    """Ranks as int64, checked to lie on 0..L (a rank outside would break the null pmf)."""
    if int(max_rank) != max_rank or max_rank < 1:
        raise ValueError(f"max_rank must be an integer >= 1, got {max_rank}")
    r = np.asarray(ranks)
    if r.size and not np.issubdtype(r.dtype, np.integer):
        if not np.all(np.isfinite(r)) or np.any(r != np.round(r)):
            raise ValueError("ranks must be integers")
    r = r.astype(np.int64)
    if r.size and (r.min() < 0 or r.max() > max_rank):
        raise ValueError(f"ranks must lie in 0..{max_rank}")
    return r


# --- PLUGIN: predictable beta-binomial ----------------------------------------------------------


def beta_binomial_log_pmf(r, a, b, max_rank: int) -> np.ndarray:
    """log P(R = r) for R ~ BetaBinomial(L, a, b): the rank law when the PIT is Beta(a, b)."""
    L = max_rank
    return (special.gammaln(L + 1) - special.gammaln(r + 1) - special.gammaln(L - r + 1)
            + special.betaln(r + a, L - r + b) - special.betaln(a, b))


def plugin_parameters(count, s1, s2, max_rank: int, n0: float = N0) -> tuple[np.ndarray, np.ndarray]:
    """Beta-binomial (a, b) matching the mean and variance of past ranks (``count`` of them, sum
    ``s1``, sum of squares ``s2``) pooled with ``n0`` pseudo-replicates of the uniform on 0..L.

    Moments are matched on the rank scale: E R = L mu, Var R = L mu (1 - mu) (s + L) / (s + 1), with
    mu = a / (a + b), s = a + b; at the uniform's moments this gives a = b = 1 exactly, for any L.
    """
    L = max_rank
    m1 = (s1 + n0 * L / 2) / (count + n0)
    m2 = (s2 + n0 * L * (2 * L + 1) / 6) / (count + n0)
    mu = np.clip(m1 / L, *_MU_RANGE)
    var = np.maximum(m2 - m1 * m1, 1e-12)
    rho = var / (L * mu * (1 - mu))  # overdispersion vs Binomial(L, mu); uniform: (L + 2) / 3
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (L - rho) / (rho - 1)
    s = np.clip(np.nan_to_num(s, nan=2.0, posinf=_S_RANGE[1], neginf=_S_RANGE[0]), *_S_RANGE)
    s = np.where(rho <= 1, _S_RANGE[1], np.where(rho >= L, _S_RANGE[0], s))
    if L == 1:  # Bernoulli: only a / (a + b) matters
        s = np.full_like(s, 2.0)
    return mu * s, (1 - mu) * s


def _plugin_increment(r, count, s1, s2, max_rank, n0):
    a, b = plugin_parameters(count, s1, s2, max_rank, n0)
    return beta_binomial_log_pmf(r, a, b, max_rank) + np.log(max_rank + 1)


# --- EDGE: Dirichlet-multinomial on edge bins ---------------------------------------------------


def edge_bins(max_rank: int) -> np.ndarray:
    """Bin edges {0..w-1}, {w..L-w}, {L-w+1..L} with w = max(1, round((L+1)/100)) (empty middle
    bin dropped, e.g. L = 1)."""
    size = max_rank + 1
    w = max(1, min(size // 2, round(size / 100)))
    return np.unique(np.array([0, w, size - w, size]))


def _edge_setup(max_rank: int, concentration: float):
    edges = edge_bins(max_rank)
    p = np.diff(edges) / (max_rank + 1)
    prior = concentration * len(p) * p
    return edges, p, prior


def _edge_increment(bin_index, count_in_bin, count, p, prior):
    return np.log(prior[bin_index] + count_in_bin) - np.log(prior.sum() + count) - np.log(p[bin_index])


# --- one quantity: batch ------------------------------------------------------------------------


def component_log_paths(ranks, max_rank: int, n0: float = N0,
                        edge_concentration: float = EDGE_CONCENTRATION) -> dict[str, np.ndarray]:
    """log PLUGIN_n and log EDGE_n, n = 1..N, along the last axis of ``ranks`` (leading axes are
    independent sequences). Each is a test martingale on its own."""
    r = _as_ranks(ranks, max_rank)
    n = r.shape[-1]
    count = np.arange(n, dtype=np.int64)
    s1 = np.cumsum(r, axis=-1) - r  # exact: integer sums
    s2 = np.cumsum(r * r, axis=-1) - r * r
    plugin = _plugin_increment(r, count, s1, s2, max_rank, n0)
    edges, p, prior = _edge_setup(max_rank, edge_concentration)
    k = np.searchsorted(edges, r, side="right") - 1
    onehot = k[..., None] == np.arange(len(p))
    before = (np.cumsum(onehot, axis=-2) - onehot)  # earlier ranks in each bin
    count_in_bin = np.take_along_axis(before, k[..., None], axis=-1)[..., 0]
    edge = _edge_increment(k, count_in_bin, count, p, prior)
    return {"plugin": np.cumsum(plugin, axis=-1), "edge": np.cumsum(edge, axis=-1)}


def _mix(log_plugin, log_edge, weights=WEIGHTS):
    return np.logaddexp(np.log(weights[0]) + log_plugin, np.log(weights[1]) + log_edge)


def log_e_process(ranks, max_rank: int, n0: float = N0, edge_concentration: float = EDGE_CONCENTRATION,
                  weights: tuple[float, float] = WEIGHTS) -> np.ndarray:
    """log E_1..log E_N for one quantity's ranks in replicate order (last axis; leading axes are
    independent sequences, handy for simulation). log E_0 = 0 is not included."""
    if not np.isclose(sum(weights), 1) or min(weights) < 0:
        raise ValueError("weights must be nonnegative and sum to 1")
    paths = component_log_paths(ranks, max_rank, n0, edge_concentration)
    return _mix(paths["plugin"], paths["edge"], weights)


def e_process(ranks, max_rank: int, **kwargs) -> np.ndarray:
    """E_1..E_N (``exp`` of ``log_e_process``; overflows to inf for a badly broken quantity, so
    decide and plot on the log scale)."""
    with np.errstate(over="ignore"):
        return np.exp(log_e_process(ranks, max_rank, **kwargs))


# --- combining quantities -----------------------------------------------------------------------


def closed_mean_log_e(log_e) -> np.ndarray:
    """log of min over sets S containing j of mean_{i in S} E^(i), for each j (last axis).

    Closed testing with the arithmetic mean as the e-test of each intersection hypothesis. The
    minimising S is j plus the k smallest other e-values for some k; with e-values sorted, and P_t
    the sum of the t smallest, it is min( min_{k<=p} (E_j + P_k)/(k+1), min_{t>p+1} P_t/t ), p the
    position of j. O(m^2) per row, computed in row blocks.
    """
    x = np.asarray(log_e, dtype=float)
    shape = x.shape
    m = shape[-1]
    if m == 0:
        return x.copy()
    x = x.reshape(-1, m)
    out = np.empty_like(x)
    block = max(1, int(4e6 // (m * m)))
    ks = np.arange(m)
    for start in range(0, x.shape[0], block):
        rows = x[start:start + block]
        order = np.argsort(rows, axis=-1, kind="stable")
        srt = np.take_along_axis(rows, order, axis=-1)
        # log P_t for t = 0..m (P_0 = 0)
        log_prefix = np.concatenate([np.full((len(rows), 1), -np.inf),
                                     np.logaddexp.accumulate(srt, axis=-1)], axis=-1)
        log_prefix_mean = log_prefix[:, 1:] - np.log(np.arange(1, m + 1))  # t = 1..m
        # suffix minimum of prefix means over t >= t0 (t0 = p + 2 .. m); +inf when empty
        suffix_min = np.concatenate([np.minimum.accumulate(log_prefix_mean[:, ::-1], axis=-1)[:, ::-1],
                                     np.full((len(rows), 1), np.inf)], axis=-1)  # index t-1
        # for the element at sorted position p: min_{k<=p} log(E + P_k) - log(k+1)
        cand = np.logaddexp(srt[:, :, None], log_prefix[:, None, :m]) - np.log(ks + 1)[None, None, :]
        cand = np.where(ks[None, None, :] <= ks[None, :, None], cand, np.inf)
        first = cand.min(axis=-1)
        second = suffix_min[:, ks + 1]  # min over t >= p + 2 of P_t / t (index t - 1)
        adjusted_sorted = np.minimum(first, second)
        res = np.empty_like(rows)
        np.put_along_axis(res, order, adjusted_sorted, axis=-1)
        out[start:start + block] = res
    return out.reshape(shape)


def adjusted_log_e(log_e, method: str = "closed-mean") -> np.ndarray:
    """Per-quantity log e-values on the scale where the flag threshold is log(1 / alpha).

    ``"bonferroni"``: log E - log m. ``"closed-mean"``: ``closed_mean_log_e``. Either way a quantity
    is flagged when its adjusted value reaches log(1/alpha), with FWER <= alpha."""
    x = np.asarray(log_e, dtype=float)
    if method == "bonferroni":
        return x - np.log(max(x.shape[-1], 1))
    if method == "closed-mean":
        return closed_mean_log_e(x)
    raise ValueError(f"method must be one of {METHODS}")


def flags(log_e, alpha: float = ALPHA, method: str = "closed-mean") -> np.ndarray:
    """Which quantities are flagged (boolean, same shape as ``log_e``; last axis = quantities).

    Same as ``adjusted_log_e(log_e, method) >= log(1/alpha)``, but the closed-mean adjustment is
    computed only for rows where some E^(j) >= 1/alpha (the adjusted value never exceeds E^(j))."""
    x = np.asarray(log_e, dtype=float)
    bar = np.log(1 / alpha)
    if method == "bonferroni" or x.shape[-1] == 0:
        return adjusted_log_e(x, method) >= bar
    if method != "closed-mean":
        raise ValueError(f"method must be one of {METHODS}")
    out = np.zeros(x.shape, bool)
    rows = (x >= bar).any(axis=-1)
    if rows.any():
        out[rows] = closed_mean_log_e(x[rows]) >= bar
    return out


def e_bh(log_e, alpha: float = ALPHA) -> list[int]:
    """e-BH (Wang & Ramdas 2022): reject the k largest e-values, k the largest with
    E_(k) >= m / (alpha k). Controls the FDR (not the FWER) under any dependence, also at a stopping
    time. Returns the indices of the rejected quantities."""
    x = np.asarray(log_e, dtype=float)
    m = len(x)
    if m == 0:
        return []
    order = np.argsort(-x, kind="stable")
    k = np.arange(1, m + 1)
    ok = x[order] >= np.log(m / (alpha * k))
    if not ok.any():
        return []
    k_max = int(np.nonzero(ok)[0].max()) + 1
    return sorted(int(j) for j in order[:k_max])


# --- verdict over a rank matrix -----------------------------------------------------------------


class Verdict(NamedTuple):
    """``stopped_at``: the first n (1-based count of replicates) at which some quantity is flagged,
    or None. ``flagged``: the quantities flagged (at ``stopped_at`` when stopping, else ever).
    ``log_e``: (n x m) log E paths; ``log_e_adjusted``: the same on the scale of the log(1/alpha)
    threshold (rows up to ``stopped_at`` when stopping)."""

    stopped_at: int | None
    flagged: list[int]
    log_e: np.ndarray
    log_e_adjusted: np.ndarray


def sequential_verdict(rank_matrix, max_rank: int, alpha: float = ALPHA, method: str = "closed-mean",
                       stop: bool = True, **kwargs) -> Verdict:
    """Apply the rule after every replicate in index order: rows are replicates, columns quantities.

    With ``stop`` the run stops at the first flag and ``flagged`` is what is flagged then; without,
    it runs to the end and ``flagged`` is every quantity flagged at some n (still FWER <= alpha:
    the guarantee covers all n at once). Indices in ``flagged`` are in order of first flag, ties by
    column."""
    r = _as_ranks(rank_matrix, max_rank)
    if r.ndim != 2:
        raise ValueError("rank_matrix must be 2-d: (replicates, quantities)")
    log_e = log_e_process(r.T, max_rank, **kwargs).T  # (n, m)
    adjusted = adjusted_log_e(log_e, method)
    hit = flags(log_e, alpha, method)
    rows = np.nonzero(hit.any(axis=1))[0]
    if len(rows) == 0:
        return Verdict(None, [], log_e, adjusted)
    first = int(rows[0])
    if stop:
        return Verdict(first + 1, [int(j) for j in np.nonzero(hit[first])[0]], log_e[:first + 1],
                       adjusted[:first + 1])
    first_hit = np.where(hit.any(axis=0), hit.argmax(axis=0), np.iinfo(np.int64).max)
    flagged = [int(j) for j in np.lexsort((np.arange(hit.shape[1]), first_hit)) if hit[:, j].any()]
    return Verdict(first + 1, flagged, log_e, adjusted)


# --- incremental --------------------------------------------------------------------------------


class SequentialMonitor:
    """Incremental version of ``sequential_verdict(stop=False)``: feed one replicate's ranks (one per
    quantity) at a time, in replicate-index order (the contiguous completed prefix, never arrival
    order: arrival order can depend on the fit, hence on the ranks).

    State is O(m): per quantity the count, sum and sum of squares of past ranks, the edge-bin counts
    and the two log martingales. ``update`` returns the quantities newly flagged by that replicate;
    ``flagged`` only grows; ``stopped_at`` is the replicate count at the first flag.
    """

    def __init__(self, n_quantities: int, max_rank: int, alpha: float = ALPHA, method: str = "closed-mean",
                 n0: float = N0, edge_concentration: float = EDGE_CONCENTRATION,
                 weights: tuple[float, float] = WEIGHTS, keep_history: bool = True):
        _as_ranks(np.zeros(0, int), max_rank)
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}")
        self.m, self.max_rank, self.alpha, self.method = int(n_quantities), int(max_rank), alpha, method
        self.n0, self.weights = n0, weights
        self._edges, self._p, self._prior = _edge_setup(self.max_rank, edge_concentration)
        self.n = 0
        self._s1 = np.zeros(self.m, np.int64)
        self._s2 = np.zeros(self.m, np.int64)
        self._bins = np.zeros((self.m, len(self._p)), np.int64)
        self._log_plugin = np.zeros(self.m)
        self._log_edge = np.zeros(self.m)
        self.flagged: list[int] = []
        self.flagged_at: dict[int, tuple[int, float, float]] = {}  # j -> (n, log E, adjusted log E)
        self.stopped_at: int | None = None
        self.keep_history = keep_history
        self._history: list[np.ndarray] = []

    @property
    def log_e(self) -> np.ndarray:
        """Current log E per quantity (0 before any replicate)."""
        return _mix(self._log_plugin, self._log_edge, self.weights)

    @property
    def log_e_adjusted(self) -> np.ndarray:
        return adjusted_log_e(self.log_e, self.method)

    @property
    def log_e_path(self) -> np.ndarray:
        """(n x m) log E after each replicate (needs ``keep_history``)."""
        return np.array(self._history).reshape(len(self._history), self.m)

    def update(self, ranks) -> list[int]:
        """Add one replicate (its m ranks); return the quantities it newly flags."""
        r = _as_ranks(ranks, self.max_rank).reshape(-1)
        if len(r) != self.m:
            raise ValueError(f"expected {self.m} ranks, got {len(r)}")
        self._log_plugin += _plugin_increment(r, self.n, self._s1, self._s2, self.max_rank, self.n0)
        k = np.searchsorted(self._edges, r, side="right") - 1
        rows = np.arange(self.m)
        self._log_edge += _edge_increment(k, self._bins[rows, k], self.n, self._p, self._prior)
        self._bins[rows, k] += 1
        self._s1 += r
        self._s2 += r * r
        self.n += 1
        log_e = self.log_e
        if self.keep_history:
            self._history.append(log_e)
        adjusted = adjusted_log_e(log_e, self.method)
        hit = np.nonzero(flags(log_e, self.alpha, self.method))[0]
        new = [int(j) for j in hit if j not in self.flagged_at]
        self.flagged.extend(new)
        self.flagged_at.update({j: (self.n, float(log_e[j]), float(adjusted[j])) for j in new})
        if new and self.stopped_at is None:
            self.stopped_at = self.n
        return new

    def report(self, names: list[str] | None = None) -> list[str]:
        """One line per flagged quantity, e.g. "mu: flagged at replicate 57, e-value 410 >= 200
        (m/alpha); now 3.1e+04 after 80 replicates"."""
        names = names or [str(j) for j in range(self.m)]
        now = self.log_e
        lines = []
        for j in self.flagged:
            n, log_e, adjusted = self.flagged_at[j]
            if self.method == "bonferroni":
                why = f"e-value {format_e(log_e)} >= {self.m / self.alpha:.3g} (m/alpha)"
            else:
                why = (f"e-value {format_e(log_e)}, closed-mean adjusted {format_e(adjusted)} >= "
                       f"{1 / self.alpha:.3g} (1/alpha)")
            lines.append(f"{names[j]}: flagged at replicate {n}, {why}; now {format_e(now[j])} after {self.n} replicates")
        return lines


def format_e(log_value: float) -> str:
    """An e-value for people: '41', '3.2e+05', or '1e+1234' past float range."""
    if log_value < 700:
        return f"{np.exp(log_value):.3g}"
    return f"1e+{log_value / np.log(10):.0f}"
