"""Type I error of the calibration tests on exact posteriors.

Each campaign simulates N replicates of a conjugate model whose posterior is known exactly
(normal-normal with known variance; beta-binomial), draws L independent posterior draws per
replicate, ranks the truth with ``sbc_helpers.stats.ranks.rank`` and tests the ranks with
``sbc_helpers.stats.calibrate.calibration_table``. Over many campaigns each test must reject at its
nominal 5% within binomial error. The family-wise rate is measured too: campaigns of ``--family``
(default ten) independent exact quantities at once, where a false alarm is any quantity flagged by
the Holm-adjusted verdict; it must be at or below 5% within binomial error. NumPy simulates here because the posteriors are closed-form:
the pipeline itself is checked on an exact posterior in tests/.

    .venv/bin/python validation/type1.py [--campaigns 400] [--replicates 100] [--rank-draws 100] [--family 10]
"""

import argparse
import time

import numpy as np
import pandas as pd

from sbc_helpers.stats import ALPHA
from sbc_helpers.stats.calibrate import calibration_table
from sbc_helpers.stats.ranks import rank


def normal_normal(rng, L, n=10):
    """mu ~ N(0, 1), y_i ~ N(mu, 1): posterior N(sum(y) / (n + 1), 1 / (n + 1))."""
    mu = rng.normal()
    y = rng.normal(mu, 1, n)
    return mu, rng.normal(y.sum() / (n + 1), np.sqrt(1 / (n + 1)), L)


def beta_binomial(rng, L, trials=20, a=2.0, b=2.0):
    """p ~ Beta(a, b), y ~ Binomial(trials, p): posterior Beta(a + y, b + trials - y)."""
    p = rng.beta(a, b)
    y = rng.binomial(trials, p)
    return p, rng.beta(a + y, b + trials - y, L)


def campaign_ranks(case, rng, n_replicates, L) -> pd.DataFrame:
    rows = []
    for r in range(n_replicates):
        truth, draws = case(rng, L)
        rows.append({"replicate": r, "quantity": case.__name__, "variable": case.__name__,
                     "rank": rank(draws, truth, rng), "max_rank": L})
    return pd.DataFrame(rows)


def family_ranks(rng, n_replicates, L, n_quantities) -> pd.DataFrame:
    """``n_quantities`` independent normal-normal quantities per replicate, all exact."""
    rows = []
    for r in range(n_replicates):
        for q in range(n_quantities):
            truth, draws = normal_normal(rng, L)
            rows.append({"replicate": r, "quantity": f"mu[{q}]", "variable": "mu", "rank": rank(draws, truth, rng),
                         "max_rank": L})
    return pd.DataFrame(rows)


def family_wise_rate(rng, k, n_replicates, L, n_quantities) -> float:
    """The share of calibrated campaigns of ``n_quantities`` whose Holm-adjusted verdict flags any."""
    alarms = [not calibration_table(family_ranks(rng, n_replicates, L, n_quantities))["calibrated"].all()
              for _ in range(k)]
    return float(np.mean(alarms))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--campaigns", type=int, default=400)
    parser.add_argument("--replicates", type=int, default=100)
    parser.add_argument("--rank-draws", type=int, default=100)
    parser.add_argument("--seed", type=int, default=20180413)
    parser.add_argument("--family", type=int, default=10, help="quantities per campaign for the family-wise rate")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    k = args.campaigns
    se = np.sqrt(ALPHA * (1 - ALPHA) / k)
    print(f"{k} campaigns x {args.replicates} replicates, L = {args.rank_draws}; nominal {ALPHA}, "
          f"binomial SE {se:.4f}, tolerance 3 SE = +-{3 * se:.4f}\n")
    print(f"{'case':<15} {'test':<32} {'rejection rate':>15} {'within 3 SE':>12}")
    for case in (normal_normal, beta_binomial):
        start = time.perf_counter()
        tables = [calibration_table(campaign_ranks(case, rng, args.replicates, args.rank_draws)) for _ in range(k)]
        table = pd.concat(tables)
        tests = {
            "verdict (gamma p-value, Holm)": ~table["calibrated"],
            "log(gamma / gamma_5%) < 0": table["log_gamma_ratio"] < 0,
            "chi-square p < 0.05": table["chi2_p_value"] < ALPHA,
            "ArviZ pot_c p < 0.05": table["p_value"] < ALPHA,
        }
        for name, rejected in tests.items():
            rate = float(rejected.mean())
            print(f"{case.__name__:<15} {name:<32} {rate:>15.4f} {'yes' if abs(rate - ALPHA) <= 3 * se else 'NO':>12}")
        print(f"{'':<15} ({time.perf_counter() - start:.0f} s)")
    if args.family > 1:
        start = time.perf_counter()
        rate = family_wise_rate(rng, k, args.replicates, args.rank_draws, args.family)
        name = f"{args.family} quantities"
        print(f"{name:<15} {'family-wise (any flagged, Holm)':<32} {rate:>15.4f} "
              f"{'yes' if rate <= ALPHA + 3 * se else 'NO':>12}")
        print(f"{'':<15} ({time.perf_counter() - start:.0f} s; must be at or below {ALPHA} within 3 SE)")


if __name__ == "__main__":
    main()
