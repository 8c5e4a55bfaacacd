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


def binomial_sd(p: float, n: int) -> float:
    """The standard deviation of a share estimated from ``n`` draws whose true share is ``p``."""
    return np.sqrt(p * (1 - p) / n)


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


def synthetic_unit(folder, n_quantities: int, n_replicates: int, max_rank: int = 100, seed: int = 0):
    """A campaign folder holding one unit ``m`` of a hierarchical model's gathered tables, without
    fitting: ``mu``, ``tau``, ``z`` and ``theta`` over (n_quantities - 3) / 2 groups, ``log_lik``.

    Ranks are uniform but for the first three ``theta`` elements' (piled at both ends: too narrow);
    replicates at the smallest tenth of ``tau`` are flagged for divergences. Returns the campaign
    folder, the campaign and ``{unit: Tables}`` as ``report.build.build`` takes them."""
    from sbc_helpers.contract import REPLICATE_COLUMNS
    from sbc_helpers.report.analysis import Tables
    from sbc_helpers.run import store
    from sbc_helpers.run.params import Campaign

    rng = np.random.default_rng(seed)
    groups = max(1, (n_quantities - 3) // 2)
    names = ["mu", "tau", *(f"z[{i}]" for i in range(groups)), *(f"theta[{i}]" for i in range(groups)), "log_lik"]
    variables = [n.split("[")[0] for n in names]
    k = len(names)
    ranks = rng.integers(0, max_rank + 1, size=(k, n_replicates))
    ranks[names.index("theta[0]"):names.index("theta[0]") + 3] = rng.choice([0, 1, max_rank - 1, max_rank],
                                                                             size=(3, n_replicates))
    truth = rng.normal(size=(k, n_replicates))
    truth[1] = np.abs(truth[1])
    frame = pd.DataFrame({
        "replicate": np.tile(np.arange(n_replicates), k), "quantity": np.repeat(names, n_replicates),
        "variable": np.repeat(variables, n_replicates), "rank": ranks.ravel(), "max_rank": max_rank,
        "true_value": truth.ravel(), "post_mean": (0.7 * truth + 0.3 * rng.normal(size=truth.shape)).ravel(),
        "post_sd": 0.5})
    flagged = truth[1] < np.quantile(truth[1], 0.1)
    replicates = pd.DataFrame({c: [None] * n_replicates for c in REPLICATE_COLUMNS}).assign(
        replicate=np.arange(n_replicates), seed=np.arange(n_replicates), status="ok",
        divergences=np.where(flagged, 12, 0), max_rhat=1.0, min_ess=400.0, min_ess_bulk=400.0, min_bfmi=1.0,
        seconds=0.2, wall_seconds=0.8, flags=np.where(flagged, "divergences", ""))
    campaign = Campaign(name="synthetic", seed=seed, replicates=n_replicates, rank_draws=max_rank,
                        models=[{"name": "m", "model": "hierarchical_noncentered"}])
    campaign_dir = folder / campaign.name
    store.write_manifest(campaign_dir, campaign.model_dump(mode="json"))
    store.write_tables(store.unit_dir(campaign_dir, "m"), frame, replicates)
    return campaign_dir, campaign, {"m": Tables(ranks=frame, replicates=replicates)}
