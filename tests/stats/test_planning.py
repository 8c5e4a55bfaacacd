"""The verdict's resolution: the coverage a calibrated-looking quantity can still have, and how it
moves with the replicates and the quantities."""

import numpy as np
import pytest

from sbc_helpers.stats import ALPHA
from sbc_helpers.stats import calibrate as cal
from sbc_helpers.stats import planning


def ranks_from_counts_below(below: np.ndarray, n: int, rng) -> np.ndarray:
    """Ranks 0..L whose counts below each i = 1..L are ``below`` (nondecreasing, at most n)."""
    counts = np.diff(np.concatenate([[0], below, [n]]))
    return rng.permutation(np.repeat(np.arange(len(counts)), counts))


def extreme_passing_ranks(n: int, max_rank: int, n_quantities: int, narrow: bool) -> tuple[np.ndarray, int, int]:
    """Ranks whose central-interval coverage is the lowest (``narrow``) or highest that still passes."""
    i1 = round((max_rank + 1) / 4)
    i2 = max_rank + 1 - i1
    critical = cal.gamma_critical(n, max_rank, ALPHA / n_quantities)
    lows, highs = cal.interval_ends(cal.pointwise_p_values(n, max_rank) >= critical)
    below = np.clip(np.round(n * np.arange(1, max_rank + 1) / (max_rank + 1)).astype(int), lows, highs)
    # pin the interval's ends where its coverage is most extreme; every count stays in its band
    start, end = (highs[i1 - 1], lows[i2 - 1]) if narrow else (lows[i1 - 1], highs[i2 - 1])
    below[:i1] = np.minimum(below[:i1], start)
    below[i1:i2 - 1] = np.clip(below[i1:i2 - 1], start, end)
    below[i2 - 1:] = np.maximum(below[i2 - 1:], end)
    below[i1 - 1], below[i2 - 1] = start, end
    return ranks_from_counts_below(below, n, np.random.default_rng(0)), i1, i2


@pytest.mark.parametrize("narrow", [True, False])
@pytest.mark.parametrize("n, max_rank, n_quantities", [(200, 99, 1), (200, 100, 16), (500, 49, 4)])
def test_undetected_coverage_is_the_edge_between_passing_and_sure_to_be_flagged(n, max_rank, n_quantities, narrow):
    nominal, low, high = planning.undetected_coverage(n, max_rank, n_quantities)
    assert low < nominal < high
    ranks, i1, i2 = extreme_passing_ranks(n, max_rank, n_quantities, narrow)
    inside = ((ranks >= i1) & (ranks < i2)).mean()
    assert inside == pytest.approx(low if narrow else high)
    # at the edge the quantity passes, even alone among n_quantities
    assert cal.gamma_p_value(ranks, max_rank) * n_quantities >= ALPHA
    # one rank more outside (narrow) or inside (wide) the interval, and it is flagged
    moved = ranks.copy()
    if narrow:
        moved[np.flatnonzero((ranks >= i1) & (ranks < i2))[0]] = 0
    else:
        moved[np.flatnonzero(ranks < i1)[0]] = i1
    assert cal.gamma_p_value(moved, max_rank) * n_quantities < ALPHA


def test_undetected_coverage_narrows_with_more_replicates_and_widens_with_more_quantities():
    _, low, high = planning.undetected_coverage(200, 100, 16)
    _, low4, high4 = planning.undetected_coverage(800, 100, 16)
    _, low_m, high_m = planning.undetected_coverage(200, 100, 160)
    assert low < low4 and high4 < high
    assert low_m <= low and high <= high_m
