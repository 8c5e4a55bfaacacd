"""Sequential stopping, validated: false alarms under continuous monitoring, and time to verdict.

1. False alarms. Calibrated campaigns on exact posteriors, checked after every replicate up to
   1000 with the rule a sequential campaign uses (the e-process at alpha/2 after every replicate;
   at the end, unflagged, the fixed-N gamma + Holm test at alpha/2). Three models:
   - normal-normal: mu ~ N(0, 1), 10 observations N(mu, 1), L = 100 exact posterior draws;
   - beta-binomial: p ~ Beta(1, 1), 10 observations Binomial(20, p), L = 100 exact posterior draws
     (drawn by inverse CDF: a draw is below p exactly when its uniform is below F(p));
   - ten quantities: ten independent normal-normal means (each rank drawn from its exact
     Binomial(L, F_post(truth)) law, the law of L draws' count below the truth).
   The rate, its binomial standard error and a 95% upper bound are printed; the rate must be at or
   below alpha.

2. Time to verdict (``--cases``): for each unit of the validation campaigns on disk
   (``--validation-dir``, default ``outputs/validation``) the rule is applied to its ranks in ``--orders`` random replicate orders
   (random orders stand in for new campaigns drawn from the same population): median stopping
   point, and power (the share of orders flagged within the campaign's replicates), beside the
   fixed-N verdict on all of them.

    .venv/bin/python validation/sequential.py [--campaigns 2000] [--cases] [--orders 200]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # validation.* beside sbc_helpers

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from sbc_helpers.stats import ALPHA
from sbc_helpers.stats import sequential as sq
from validation.tables import markdown
from sbc_helpers.stats.calibrate import calibration_table, gamma_critical, gamma_statistic

HERE = Path(__file__).resolve().parent

L = 100
N = 1000


def normal_normal_ranks(rng, campaigns: int, n: int = N, obs: int = 10) -> np.ndarray:
    """(campaigns, n, 1) ranks of mu among L exact posterior draws."""
    out = np.empty((campaigns, n, 1), dtype=np.int64)
    for c in range(campaigns):
        mu = rng.normal(size=n)
        ybar = rng.normal(mu, 1 / np.sqrt(obs))
        precision = 1 + obs
        draws = rng.normal((obs * ybar / precision)[:, None], 1 / np.sqrt(precision), size=(n, L))
        out[c, :, 0] = (draws < mu[:, None]).sum(axis=1)
    return out


def beta_binomial_ranks(rng, campaigns: int, n: int = N, obs: int = 10, trials: int = 20) -> np.ndarray:
    out = np.empty((campaigns, n, 1), dtype=np.int64)
    for c in range(campaigns):
        p = rng.uniform(size=n)
        successes = rng.binomial(trials, p[:, None], size=(n, obs)).sum(axis=1)
        cdf = stats.beta.cdf(p, 1 + successes, 1 + obs * trials - successes)
        out[c, :, 0] = (rng.uniform(size=(n, L)) < cdf[:, None]).sum(axis=1)
    return out


def ten_quantity_ranks(rng, campaigns: int, n: int = N, m: int = 10, obs: int = 10) -> np.ndarray:
    mu = rng.normal(size=(campaigns, n, m))
    ybar = rng.normal(mu, 1 / np.sqrt(obs))
    precision = 1 + obs
    below = stats.norm.cdf((mu - obs * ybar / precision) * np.sqrt(precision))
    return rng.binomial(L, below)


def false_alarms(ranks: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """Per campaign: flagged by the sequential rule at any look, or by the final fixed-N test."""
    campaigns, n, m = ranks.shape
    log_e = sq.log_e_process(np.moveaxis(ranks, 1, 2), L)  # (campaigns, m, n)
    log_e = np.moveaxis(log_e, 2, 1)  # (campaigns, n, m)
    sequential = sq.flags(log_e, alpha / 2).any(axis=(1, 2))
    critical = gamma_critical(n, L, alpha / 2 / m)  # Holm flags some quantity iff its gamma is below this
    gammas = np.array([[gamma_statistic(ranks[c, :, j], L) for j in range(m)] for c in range(campaigns)])
    fixed = (gammas < critical).any(axis=1)
    return sequential | fixed


def false_alarm_table(campaigns: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for name, make in [("normal-normal", normal_normal_ranks), ("beta-binomial", beta_binomial_ranks),
                       ("ten quantities", ten_quantity_ranks)]:
        start = time.perf_counter()
        flagged = np.concatenate([false_alarms(make(rng, min(250, campaigns - done)))
                                  for done in range(0, campaigns, 250)])
        rate = flagged.mean()
        se = np.sqrt(rate * (1 - rate) / len(flagged))
        upper = stats.beta.ppf(0.975, flagged.sum() + 1, len(flagged) - flagged.sum())
        rows.append({"model": name, "campaigns": len(flagged), "replicates": N, "false alarms": f"{rate:.4f}",
                     "standard error": f"{se:.4f}", "95% upper bound": f"{upper:.4f}",
                     "at most alpha": bool(rate <= ALPHA), "seconds": round(time.perf_counter() - start)})
    return pd.DataFrame(rows)


def cases_table(orders: int, seed: int, validation_dir: Path) -> pd.DataFrame:
    """Time to verdict on the validation campaigns' ranks in ``validation_dir`` (``validation/run.py``'s
    output folder), for every unit with an expectation."""
    import yaml

    from validation.run import EXPECTED

    rng = np.random.default_rng(seed)
    rows = []
    for case, units in EXPECTED.items():
        campaign = yaml.safe_load((HERE / "campaigns" / f"{case}.yaml").read_text())["name"]
        for unit, expectation in units.items():
            path = validation_dir / campaign / unit / "ranks.parquet"
            if not path.is_file():
                continue
            ranks = pd.read_parquet(path)
            matrix = ranks.pivot(index="replicate", columns="quantity", values="rank").dropna().astype(int)
            max_rank = int(ranks["max_rank"].max())
            n = len(matrix)
            fixed = calibration_table(ranks, ALPHA)
            stops = []
            for _ in range(orders):
                order = rng.permutation(n)
                verdict = sq.sequential_verdict(matrix.to_numpy()[order], max_rank, ALPHA / 2)
                stops.append(verdict.stopped_at if verdict.stopped_at is not None else np.inf)
            stops = np.array(stops)
            power = float(np.isfinite(stops).mean())
            rows.append({"case": case, "unit": unit, "expected": expectation.words,
                         "fixed N": n, "fixed-N flags": int((~fixed["calibrated"]).sum()),
                         "median stop": (f"{np.median(stops):.0f}" if power >= 0.5 else f"not within {n}"),
                         "power": f"{power:.2f}"})
    return pd.DataFrame(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--campaigns", type=int, default=2000)
    parser.add_argument("--cases", action="store_true", help="also the time-to-verdict table on --validation-dir")
    parser.add_argument("--validation-dir", type=Path, default=HERE.parent / "outputs" / "validation")
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    table = false_alarm_table(args.campaigns, args.seed)
    print("False alarms under continuous monitoring (checked after every replicate up to 1000):")
    print(markdown(table))
    if args.cases:
        print("\nTime to verdict on the validation campaigns (random replicate orders):")
        print(markdown(cases_table(args.orders, args.seed, args.validation_dir)))
    return 0 if table["at most alpha"].all() else 1


if __name__ == "__main__":
    sys.exit(main())
