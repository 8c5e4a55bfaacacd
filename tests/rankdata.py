"""Rank tables with known shapes, for the statistics' tests."""

import numpy as np
import pandas as pd


def ranks_frame(rank_values: np.ndarray, max_rank: int, prefix: str = "q") -> pd.DataFrame:
    """Tidy ranks table: one quantity per row of a (K, N) array (K campaigns of N replicates)."""
    rank_values = np.atleast_2d(rank_values)
    k, n = rank_values.shape
    names = [f"{prefix}{i:05d}" for i in range(k)]
    return pd.DataFrame(
        {
            "replicate": np.tile(np.arange(n), k),
            "quantity": np.repeat(names, n),
            "variable": prefix,
            "rank": rank_values.ravel(),
            "max_rank": max_rank,
        }
    )


def flat_ranks(max_rank: int, copies: int, seed: int = 0) -> np.ndarray:
    """A perfectly flat rank sample: every value 0..L exactly ``copies`` times, shuffled."""
    return np.random.default_rng(seed).permutation(np.repeat(np.arange(max_rank + 1), copies))


def u_shaped_ranks(max_rank: int, per_value: int, seed: int = 0) -> np.ndarray:
    """Ranks piled on the three lowest and three highest values: an overconfident posterior."""
    values = [0, 1, 2, max_rank - 2, max_rank - 1, max_rank]
    return np.random.default_rng(seed).permutation(np.repeat(values, per_value))


def mixed_frame() -> pd.DataFrame:
    L = 50
    return pd.concat(
        [
            ranks_frame(flat_ranks(L, 2), L, prefix="flat"),
            ranks_frame(u_shaped_ranks(L, 17), L, prefix="ushape"),
        ],
        ignore_index=True,
    )
