"""False-alarm rate of posterior SBC on an exact posterior.

The model is ``level`` of ``examples/posterior`` (mu ~ N(0, 1), reading_i ~ N(mu, 1)) conditional on
its observed readings. Each campaign draws a reference posterior (1000 exact draws given the
observed rows), then per replicate the project's own ``conditioning.draw`` takes a true mu' from
it and simulates new rows, the exact posterior given all rows is drawn, and mu' and the
log-likelihood of the new rows are ranked with ``stats.ranks.rank``. ``calibration_table`` judges
each campaign; over many campaigns the verdict must flag at most its nominal 5%.

    .venv/bin/python validation/posterior.py [--campaigns 400] [--replicates 100]
"""

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from sbc_helpers.models import conditioning
from sbc_helpers.models.references import load_function
from sbc_helpers.stats.calibrate import ALPHA, calibration_table
from sbc_helpers.stats.ranks import rank

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "posterior"
L = 100


def exact(readings: np.ndarray, rng, draws: int) -> np.ndarray:
    """mu | readings ~ N(sum / (n + 1), 1 / (n + 1))."""
    n = len(readings)
    return rng.normal(readings.sum() / (n + 1), np.sqrt(1 / (n + 1)), draws)


def campaign(model, observed: np.ndarray, rows: int, replicates: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    reference = pd.DataFrame({"mu": exact(observed, rng, 1000)}).to_xarray().rename(index="draw").drop_vars("draw")
    cond = conditioning.Conditioning(observed={"reading": observed}, rows=rows, design=None, reference=reference,
                                     source="readings.csv")
    out = []
    for r in range(replicates):
        simulation = conditioning.draw(model, cond, int(rng.integers(2**31)))
        y = simulation.data["reading"]
        mu_true, draws = float(simulation.truth["mu"]), exact(y, rng, L)
        new = y[rows:]
        log_lik = stats.norm(draws[:, None], 1).logpdf(new).sum(axis=1)
        for name, truth, sample in (("mu", mu_true, draws), ("log_lik", stats.norm(mu_true, 1).logpdf(new).sum(), log_lik)):
            out.append({"replicate": r, "quantity": name, "variable": name, "rank": rank(sample, truth, rng),
                        "max_rank": L})
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--campaigns", type=int, default=400)
    parser.add_argument("--replicates", type=int, default=100)
    parser.add_argument("--seed", type=int, default=2502)
    args = parser.parse_args()
    observed = pd.read_csv(EXAMPLE / "readings.csv")["reading"].to_numpy()
    rows = len(observed)
    model = load_function(f"{EXAMPLE}/models.py:level")(pd.DataFrame({"row": range(2 * rows)}))
    start = time.perf_counter()
    seeds = np.random.SeedSequence(args.seed).generate_state(args.campaigns)
    tables = [calibration_table(campaign(model, observed, rows, args.replicates, int(s))) for s in seeds]
    flagged = np.array([not t["calibrated"].all() for t in tables])
    per_quantity = pd.concat(tables).groupby("quantity")["calibrated"].apply(lambda c: 1 - c.mean())
    k, rate = args.campaigns, flagged.mean()
    se = np.sqrt(ALPHA * (1 - ALPHA) / k)
    print(f"{k} campaigns x {args.replicates} replicates, L = {L}, {time.perf_counter() - start:.0f} s")
    print(f"verdict flags (mu and log_lik, Holm): {rate:.4f} (binomial SE at 5%: {se:.4f}; "
          f"{'within' if rate <= ALPHA + 2 * se else 'ABOVE'} 5% + 2 SE)")
    for name, value in per_quantity.items():
        print(f"  {name} flagged: {value:.4f}")


if __name__ == "__main__":
    main()
