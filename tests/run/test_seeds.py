import json

import pytest

from sbc_helpers.run.seeds import replicate_seed, stream_seeds

MAX_31_BIT = 2**31


def test_replicate_seed_is_deterministic():
    assert replicate_seed(2026, "centered", 5) == replicate_seed(2026, "centered", 5)


def test_replicate_seed_is_a_31_bit_python_int():
    seeds = [replicate_seed(s, m, i) for s in (0, 1, 2**40) for m in ("a", "b") for i in range(200)]
    assert all(type(s) is int for s in seeds)  # not a numpy integer: JSON / papermill safe
    assert all(0 <= s < MAX_31_BIT for s in seeds)
    json.dumps(seeds)


def test_replicate_seed_differs_across_models_replicates_and_campaign_seeds():
    by_replicate = [replicate_seed(2026, "centered", i) for i in range(1000)]
    assert len(set(by_replicate)) == 1000
    other_model = [replicate_seed(2026, "noncentered", i) for i in range(1000)]
    assert set(by_replicate).isdisjoint(other_model)
    other_campaign = [replicate_seed(2027, "centered", i) for i in range(1000)]
    assert set(by_replicate).isdisjoint(other_campaign)


def test_replicate_seed_does_not_depend_on_count_or_order_of_other_calls():
    first_four = [replicate_seed(7, "m", i) for i in range(4)]
    # a larger campaign, computed in another order, interleaved with another model's seeds
    ten = {}
    for i in reversed(range(10)):
        replicate_seed(7, "other", i)
        ten[i] = replicate_seed(7, "m", i)
    assert [ten[i] for i in range(4)] == first_four
    assert ten[3] == replicate_seed(7, "m", 3)


def test_stream_seeds_gives_three_distinct_named_ints():
    seeds = stream_seeds(replicate_seed(2026, "centered", 0))
    assert set(seeds) == {"simulate", "fit", "rank"}
    assert len(set(seeds.values())) == 3
    assert all(type(s) is int and 0 <= s < MAX_31_BIT for s in seeds.values())


@pytest.mark.parametrize("seed", [0, 1, 123_456_789, MAX_31_BIT - 1])
def test_stream_seeds_are_deterministic_and_depend_on_the_seed(seed):
    assert stream_seeds(seed) == stream_seeds(seed)
    other = stream_seeds(seed + 1)
    assert all(stream_seeds(seed)[k] != other[k] for k in other)
