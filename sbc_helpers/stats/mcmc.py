"""R-hat and ESS of many scalars at once (Vehtari, Gelman, Simpson, Carpenter, Bürkner 2021).

ArviZ computes rank-normalised R-hat and bulk and tail ESS one scalar at a time, through a Python
loop over the scalars and over Geyer's sequence: on a small model that is a tenth of a replicate,
several times its own arithmetic. Here the same estimators take an array of shape
``(scalars, chain, draw)`` and work along its last axes, so a replicate's every quantity costs one
pass. They follow ``arviz_stats.base.diagnostics`` step for step (split chains, average ranks,
Blom's offset, FFT autocovariances, Geyer's initial positive and monotone sequences) and equal it
to rounding (``tests/stats/test_mcmc.py``).
"""

import numpy as np
from scipy.fft import next_fast_len
from scipy.special import ndtri
from scipy.stats import rankdata

MIN_DRAWS = 4


def _split(draws: np.ndarray) -> np.ndarray:
    """Each chain's first and last halves as chains of their own (all first halves, then all last)."""
    half = draws.shape[-1] // 2
    return np.concatenate([draws[..., :half], draws[..., -half:]], axis=-2)


def _z_scale(draws: np.ndarray) -> np.ndarray:
    """Normal scores of the ranks over each scalar's pooled draws (average ranks for ties)."""
    n, chains, length = draws.shape
    ranks = rankdata(draws.reshape(n, -1), method="average", axis=-1)
    size = chains * length
    return ndtri((ranks - 3 / 8) / (size - 2 * 3 / 8 + 1)).reshape(draws.shape)


def _rhat(draws: np.ndarray) -> np.ndarray:
    length = draws.shape[-1]
    between = length * np.var(np.mean(draws, axis=-1), axis=-1, ddof=1)
    within = np.mean(np.var(draws, axis=-1, ddof=1), axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):  # a constant scalar: NaN, as ArviZ gives
        return np.sqrt((between / within + length - 1) / length)


def rhat(draws: np.ndarray) -> np.ndarray:
    """Rank-normalised split R-hat of each scalar: the larger of the bulk and the folded (tail) one."""
    draws = np.asarray(draws, dtype=float)
    if draws.shape[-1] < MIN_DRAWS or draws.shape[-2] < 2:
        return np.full(draws.shape[0], np.nan)
    split = _split(draws)
    folded = np.abs(split - np.median(split.reshape(len(split), -1), axis=-1)[:, None, None])
    bulk, tail = _rhat(_z_scale(split)), _rhat(_z_scale(folded))
    # as ArviZ's max(bulk, tail): a NaN tail (constant folded draws, e.g. chains stuck at two
    # values) leaves the bulk R-hat; NaN draws give NaN
    rhat_ = np.where(np.isnan(tail), bulk, np.maximum(bulk, tail))
    return np.where(np.isnan(draws).any(axis=(-2, -1)), np.nan, rhat_)


def _autocov(draws: np.ndarray) -> np.ndarray:
    length = draws.shape[-1]
    centred = draws - draws.mean(axis=-1, keepdims=True)
    m = next_fast_len(2 * length)
    spectrum = np.fft.rfft(centred, n=m, axis=-1)
    spectrum *= np.conjugate(spectrum)
    return np.fft.irfft(spectrum, n=m, axis=-1)[..., :length] / length


def _ess(draws: np.ndarray) -> np.ndarray:
    """ESS of each scalar's chains (``(scalars, chain, draw)``) by Geyer's initial monotone sequence."""
    n, chains, length = draws.shape
    acov = _autocov(draws)
    mean_var = acov[..., 0].mean(axis=-1) * length / (length - 1.0)
    var_plus = mean_var * (length - 1.0) / length
    if chains > 1:
        var_plus = var_plus + np.var(draws.mean(axis=-1), axis=-1, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):  # a constant scalar: its ESS is set below
        rho = 1.0 - (mean_var[:, None] - acov.mean(axis=-2)) / var_plus[:, None]
    rho[:, 0] = 1.0
    # pairs (rho[2j], rho[2j+1]); pair j >= 1 is looked at while 2j - 1 < length - 3
    last = max(0, -(-(length - 2) // 2) - 1)
    even, odd = rho[:, 0:2 * last + 1:2], rho[:, 1:2 * last + 2:2]
    if odd.shape[1] < even.shape[1]:  # a pair past the end of the series: never looked at
        even = even[:, :odd.shape[1]]
    pairs = even + odd
    stop = np.where((pairs <= 0).any(axis=1), np.argmax(pairs <= 0, axis=1), pairs.shape[1] - 1)
    # Geyer's monotone sequence: each pair before the stop is at most every pair before it
    kept = np.minimum.accumulate(pairs, axis=1)
    before = np.arange(pairs.shape[1])[None, :] < stop[:, None]
    total = np.where(before, kept, 0.0).sum(axis=1)
    rows = np.arange(n)
    tail_even, tail_pair = even[rows, stop], pairs[rows, stop]
    tail = np.where((tail_even > 0) | (tail_pair >= 0), tail_even, 0.0)
    size = chains * length
    tau = np.maximum(-1.0 + 2.0 * total + tail, 1 / np.log10(size))
    ess = size / tau
    constant = (draws.max(axis=(-2, -1)) - draws.min(axis=(-2, -1))) < np.finfo(float).resolution
    return np.where(constant, float(size), np.where(np.isnan(rho).any(axis=1), np.nan, ess))


def ess_bulk(draws: np.ndarray) -> np.ndarray:
    """Bulk ESS of each scalar: ESS of the rank-normalised split chains."""
    draws = np.asarray(draws, dtype=float)
    if draws.shape[-1] < MIN_DRAWS:
        return np.full(draws.shape[0], np.nan)
    return _ess(_z_scale(_split(draws)))


def ess_tail(draws: np.ndarray, prob: float) -> np.ndarray:
    """Tail ESS of each scalar: the smaller ESS of the indicators of the two quantiles of the
    central ``prob`` interval (ArviZ's default interval, as ``arviz_stats.ess(method="tail")``)."""
    draws = np.asarray(draws, dtype=float)
    if draws.shape[-1] < MIN_DRAWS:
        return np.full(draws.shape[0], np.nan)
    low, high = sorted((prob, 1 - prob))
    pooled = draws.reshape(len(draws), -1)
    out = []
    for p in (low, high):
        quantile = np.quantile(pooled, p, axis=-1)
        out.append(_ess(_split((draws <= quantile[:, None, None]).astype(float))))
    return np.where(np.isnan(pooled).any(axis=-1), np.nan, np.minimum(*out))  # NaN draws: NaN, as ArviZ
