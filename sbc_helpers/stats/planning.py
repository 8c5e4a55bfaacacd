"""Planning: what a verdict of "calibrated" can still hide after n replicates (its resolution), and
how many replicates reach a given resolution. Functions of n, L, the number of quantities and
alpha alone, never of the ranks, so planning by them keeps the fixed-N test's level."""

from functools import lru_cache

from sbc_helpers.stats import ALPHA
from sbc_helpers.stats.calibrate import gamma_critical, interval_ends, pointwise_p_values


def undetected_coverage(n: int, max_rank: int, n_quantities: int, alpha: float = ALPHA) -> tuple[float, float, float]:
    """What a verdict of "calibrated" can still hide: a quantity whose central 50% intervals (on
    the rank grid) cover less than ``low`` or more than ``high`` of true values is sure to be
    flagged; between the two, a miscalibration may pass.

    Holm flags a lone miscalibrated quantity among ``n_quantities`` when its gamma p-value is below
    alpha / n_quantities, that is when some R_i leaves the counts whose pointwise p-value reaches
    ``gamma_critical`` at that level. The interval runs from rank i1 = round((L + 1) / 4) to
    L + 1 - i1, so its coverage is (R_(L+1-i1) - R_i1) / n, and the extremes come from the bounds
    on those two counts. Returns (nominal coverage, low, high).
    """
    i1 = max(1, round((max_rank + 1) / 4))
    i2 = max_rank + 1 - i1
    if i2 <= i1:
        raise ValueError(f"L = {max_rank} is too small for a central interval on the rank grid")
    critical = gamma_critical(n, max_rank, alpha / n_quantities)
    lows, highs = interval_ends(pointwise_p_values(n, max_rank)[[i1 - 1, i2 - 1]] >= critical)
    low = max(0, lows[1] - highs[0]) / n
    high = min(n, highs[1] - lows[0]) / n
    return (i2 - i1) / (max_rank + 1), float(low), float(high)


def resolution_of(n: int, max_rank: int, n_quantities: int, alpha: float = ALPHA) -> float:
    """The verdict's resolution: how far (in central-50%-interval coverage) a lone quantity's
    calibration must be off before ``n`` replicates are sure to flag it (``undetected_coverage``)."""
    nominal, low, high = undetected_coverage(n, max_rank, n_quantities, alpha)
    return max(nominal - low, high - nominal)


@lru_cache(maxsize=64)
def replicates_for_resolution(target: float, max_rank: int, n_quantities: int, alpha: float = ALPHA,
                              most: int = 20_000) -> int | None:
    """The fewest replicates whose resolution reaches ``target`` (None: more than ``most``).

    The resolution depends on n, L, the number of quantities and alpha only, never on the ranks, so
    stopping there keeps the fixed-N test's level. It shrinks as n grows (up to the discreteness of
    the counts): doubling from 50 brackets the answer, then bisection finds it.
    """
    def reached(n: int) -> bool:
        return resolution_of(n, max_rank, n_quantities, alpha) <= target

    high = 50
    while not reached(min(high, most)):
        if high >= most:
            return None
        high *= 2
    high = min(high, most)
    low = high // 2 + 1 if high > 50 else 2
    while low < high:
        mid = (low + high) // 2
        if reached(mid):
            high = mid
        else:
            low = mid + 1
    return high
