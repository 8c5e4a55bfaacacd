"""The comparison's tests, statistically: false alarms at about alpha on calibrated ranks, a planted
miscalibration flagged, and the pairing check that decides which test runs."""

import numpy as np
import pandas as pd

from sbc_helpers.stats import compare

L = 20


def _conjugate_ranks(rng, n, shared=None, sd_scale=1.0):
    """Ranks of mu ~ N(0, 1), y ~ N(mu, 1) among L draws of the posterior N(y / 2, 1 / 2) (scaled
    by ``sd_scale``: below 1 too narrow); ``shared``: (mu, y) to reuse, for paired campaigns."""
    mu, y = shared if shared is not None else (rng.normal(size=n), None)
    y = rng.normal(mu, 1) if y is None else y
    draws = rng.normal(y[:, None] / 2, sd_scale * np.sqrt(0.5), size=(n, L))
    return (draws < mu[:, None]).sum(axis=1), (mu, y)


def _rejections(test, make, reps, seed):
    rng = np.random.default_rng(seed)
    return np.mean([test(*make(rng)) < 0.05 for _ in range(reps)])


def _paired(sd_scale):
    def make(rng):
        base, shared = _conjugate_ranks(rng, 100)
        current, _ = _conjugate_ranks(rng, 100, shared, sd_scale)
        return base, current
    return make


def _unpaired(sd_scale):
    def make(rng):
        return _conjugate_ranks(rng, 100)[0], _conjugate_ranks(rng, 100, sd_scale=sd_scale)[0]
    return make


def paired_p(base, current):
    return compare.paired_test(base, current, L, permutations=199)["p_worse"]


def unpaired_p(base, current):
    return compare.unpaired_test(base, current, L, permutations=199)["p_worse"]


def test_false_alarms_of_the_paired_and_unpaired_tests_are_about_alpha_on_calibrated_ranks():
    # 400 pairs of calibrated 100-replicate campaigns: SE of a 5% rate is 1.1%; allow 3 SE above
    for test, make in ((paired_p, _paired(1.0)), (unpaired_p, _unpaired(1.0))):
        rate = _rejections(test, make, 400, seed=3)
        assert 0.015 <= rate <= 0.083, (test.__name__, rate)


def test_a_too_narrow_posterior_is_flagged_and_pairing_sees_it_sooner():
    # posterior sd at 60%: central 50% intervals cover about 33% of true values
    paired = _rejections(paired_p, _paired(0.6), 100, seed=4)
    unpaired = _rejections(unpaired_p, _unpaired(0.6), 100, seed=4)
    assert paired >= 0.9 and unpaired >= 0.7, (paired, unpaired)
    assert paired >= unpaired


def test_a_better_calibration_is_not_worse_but_it_is_a_change():
    rng = np.random.default_rng(5)
    base, shared = _conjugate_ranks(rng, 200, sd_scale=0.5)
    current, _ = _conjugate_ranks(rng, 200, shared)
    result = compare.paired_test(base, current, L)
    assert result["p_worse"] > 0.5 and result["p_changed"] < 0.01


def test_ranks_on_other_scales_are_compared_as_randomized_pit_values():
    rng = np.random.default_rng(6)
    base = rng.integers(0, 21, 200)
    current = rng.integers(0, 101, 200)
    assert compare.unpaired_test(base, current, (20, 100))["p_worse"] > 0.01


def _tables(seeds, truths):
    ranks = pd.DataFrame({"replicate": np.arange(len(truths)), "quantity": "mu", "variable": "mu", "rank": 3,
                          "max_rank": 10, "true_value": truths})
    replicates = pd.DataFrame({"replicate": np.arange(len(seeds)), "seed": seeds, "status": "ok"})
    return ranks, replicates


def test_pairing_needs_the_same_seeds_and_the_same_true_values():
    base = _tables([11, 12, 13], [0.1, 0.2, 0.3])
    assert compare.pairing(*base, *_tables([11, 12, 13], [0.1, 0.2, 0.3])).paired
    other_seed = compare.pairing(*base, *_tables([11, 99, 13], [0.1, 0.2, 0.3]))
    assert not other_seed.paired and "other seeds" in other_seed.how
    other_truth = compare.pairing(*base, *_tables([11, 12, 13], [0.1, 0.25, 0.3]))
    assert not other_truth.paired and "other true values" in other_truth.how


def test_shares_and_ratios():
    assert compare.share_change(0, 100, 10, 100)["p_worse"] < 0.01
    assert compare.share_change(10, 100, 0, 100)["p_worse"] == 1.0
    rng = np.random.default_rng(7)
    base = pd.Series(np.exp(rng.normal(0, 0.2, 50)))
    result = compare.ratio(base, base * 2, paired=True)
    assert abs(result["ratio"] - 2) < 1e-9 and result["low"] <= 2 <= result["high"]
    unpaired = compare.ratio(base, pd.Series(np.exp(rng.normal(np.log(2), 0.2, 50))))
    assert unpaired["low"] < 2 < unpaired["high"] and unpaired["low"] > 1.5


def test_a_unit_of_many_quantities_gets_enough_permutations_for_holm_to_flag_one():
    rng = np.random.default_rng(8)
    k, n = 120, 30  # at 1999 permutations Holm could not go below 120 / 2000 = 0.06
    base = rng.integers(0, L + 1, size=(k, n))
    current = base.copy()
    current[0] = rng.choice([0, L], size=n)  # every true value outside the posterior's draws
    frame = lambda r: pd.DataFrame({"replicate": np.tile(np.arange(n), k),  # noqa: E731
                                    "quantity": np.repeat([f"q{i}" for i in range(k)], n), "rank": r.ravel(),
                                    "max_rank": L})
    paired = compare.Pairing(True, list(range(n)), "paired")
    table = compare.calibration_changes(frame(base), frame(current), paired)
    assert table.loc[table["worse"], "quantity"].tolist() == ["q0"]
