"""False alarms of posterior SBC at N = 1000 replicates, with exact fits: the reference sized to the
campaign and drawn from without replacement, against drawing with replacement from a small one.

The model is ``level`` of ``examples/posterior`` (mu ~ N(0, 1), reading_i ~ N(mu, 1)) conditional on
its observed readings; each replicate simulates as many new rows. Every fit is the exact posterior
given all rows, so a flag is a false alarm. Per campaign:

1. a reference posterior of mu given the observed rows, one of
   - exact draws, sized to the campaign by the driver's rule (``run.posterior.size_reference``: ESS
     at least ``--ratio`` x N; the first fit has 1000 draws, the next as many as are missing);
   - MCMC-like chains: 4 AR(1) chains (autocorrelation ``--rho``) whose every draw has the exact
     posterior as its distribution, sized by the same rule from their measured ESS (1000 draws per
     chain first, then as many as the measured ESS per draw says), thinned and shuffled by
     ``simulation.conditioning.independent_draws``;
   - for contrast, the old way: 400 exact draws, or 2 such chains of 1000 draws pooled, drawn from
     with replacement (``--old`` leaves them out);
2. replicate r's true mu' is ``conditioning.true_values(reference, r)`` (the old way: a uniformly
   random draw), its new rows y' ~ N(mu', 1), and L = 100 exact posterior draws given all rows;
3. mu' and the log-likelihood of y' are ranked among them by ``stats.ranks.rank``, as a replicate
   ranks them;
4. the verdicts: the fixed-N gamma test with Holm at 5% (``stats.calibrate``: a quantity's gamma below
   ``gamma_critical`` at alpha / 2 is what makes ``calibration_table`` flag one of the two), and the
   sequential campaign's rule (``stats.sequential``): the e-process at 2.5% after every replicate
   (closed-mean across the two quantities), and the fixed-N test at 2.5% at the end.

Each rate must stay within alpha + 2 binomial standard errors. With the defaults the table is written
to validation/RESULTS.md, between its posterior markers (the docs' posterior SBC page includes it).

    .venv/bin/python validation/posterior.py [--campaigns 300] [--replicates 1000] [--ratio 20] [--rho 0.8]
"""

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from scipy.signal import lfilter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # validation.* beside sbc_helpers

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from sbc_helpers.run import posterior
from sbc_helpers.simulation import conditioning
from sbc_helpers.stats import ALPHA
from sbc_helpers.stats import sequential as sq
from sbc_helpers.stats.calibrate import calibration_table, gamma_critical, gamma_statistic
from sbc_helpers.stats.ranks import rank
from validation.tables import markdown, replace_block

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parent / "examples" / "posterior"

L = 100
CHAINS = 4
BLOCK = "posterior-sbc"
DEFAULTS = {"campaigns": 300, "replicates": 1000, "ratio": 20.0, "rho": 0.8}


class Level:
    """The conjugate model conditional on its readings: mu | y ~ N(sum(y) / (n + 1), 1 / (n + 1))."""

    def __init__(self, readings: np.ndarray):
        self.readings = readings
        self.rows = len(readings)

    def posterior(self, total: np.ndarray, rows: int) -> tuple[np.ndarray, float]:
        return total / (rows + 1), 1 / np.sqrt(rows + 1)

    def reference(self) -> tuple[float, float]:
        return self.posterior(self.readings.sum(), self.rows)


def exact_fit(level: Level, rng) -> Callable:
    """A fit for ``size_reference``: exact, independent draws (1000, then as many as asked)."""
    mean, sd = level.reference()

    def fit(part: int, draws: int | None):
        values = rng.normal(mean, sd, (1, draws or 1000))
        return posterior.reference_part(xr.Dataset({"mu": (("chain", "draw"), values)}), True,
                                        int(rng.integers(2**31)), "level")
    return fit


def ar_chains(rng, mean: float, sd: float, rho: float, chains: int, draws: int) -> np.ndarray:
    """AR(1) chains started in their stationary law N(mean, sd): autocorrelated, every draw exact."""
    noise = rng.normal(size=(chains, draws))
    noise[:, 0] /= np.sqrt(1 - rho**2)
    return mean + sd * np.sqrt(1 - rho**2) * lfilter([1], [1, -rho], noise, axis=-1)


def chain_fit(level: Level, rng, rho: float) -> Callable:
    """A fit for ``size_reference``: MCMC-like chains (1000 draws each, then as many as asked)."""
    mean, sd = level.reference()

    def fit(part: int, draws: int | None):
        values = ar_chains(rng, mean, sd, rho, CHAINS, draws or 1000)
        return posterior.reference_part(xr.Dataset({"mu": (("chain", "draw"), values)}), False,
                                        int(rng.integers(2**31)), "level")
    return fit


def true_values(scheme: str, level: Level, rng, n: int, ratio: float, rho: float) -> tuple[np.ndarray, float]:
    """The N replicates' true mu' under ``scheme``, and the reference's ESS."""
    if scheme in ("exact", "chains"):
        fit = exact_fit(level, rng) if scheme == "exact" else chain_fit(level, rng, rho)
        reference = posterior.size_reference("level", n, ratio, fit, 1 if scheme == "exact" else CHAINS)
        return conditioning.true_values(reference, np.arange(n))["mu"], float(reference.attrs["ess"])
    mean, sd = level.reference()
    if scheme == "old-exact":
        values = rng.normal(mean, sd, (1, 400))
    else:
        values = ar_chains(rng, mean, sd, rho, 2, 1000)
    ess = conditioning.effective_size(xr.Dataset({"mu": (("chain", "draw"), values)}), scheme == "old-exact")
    return values.ravel()[rng.integers(values.size, size=n)], ess


def campaign_ranks(scheme: str, level: Level, rng, n: int, ratio: float, rho: float) -> tuple[np.ndarray, float]:
    """(n, 2) ranks of mu' and of the log-likelihood of y' among L exact posterior draws, and the
    reference's ESS."""
    mu, ess = true_values(scheme, level, rng, n, ratio, rho)
    new = mu[:, None] + rng.normal(size=(n, level.rows))
    mean, sd = level.posterior(level.readings.sum() + new.sum(axis=1), 2 * level.rows)
    draws = rng.normal(mean[:, None], sd, (n, L))
    s1, s2 = new.sum(axis=1), (new**2).sum(axis=1)

    def log_lik(m):  # sum over the new rows of log N(y' | m, 1), up to a constant
        return -0.5 * (s2[:, None] - 2 * m * s1[:, None] + level.rows * m**2)

    truth_ll, draws_ll = log_lik(mu[:, None])[:, 0], log_lik(draws)
    ranks = np.array([[rank(draws[i], mu[i], rng), rank(draws_ll[i], truth_ll[i], rng)] for i in range(n)])
    return ranks, ess


def verdicts(ranks: np.ndarray) -> dict[str, np.ndarray]:
    """Per campaign (``ranks``: campaigns x n x 2): flagged by the fixed-N test at 5%, by the
    e-process at 2.5% at any replicate, and by the sequential campaign's rule (either at 2.5%)."""
    campaigns, n, m = ranks.shape
    gammas = np.array([[gamma_statistic(ranks[c, :, j], L) for j in range(m)] for c in range(campaigns)])
    log_e = np.moveaxis(sq.log_e_process(np.moveaxis(ranks, 1, 2), L), 2, 1)  # (campaigns, n, m)
    e_process = sq.flags(log_e, ALPHA / 2).any(axis=(1, 2))
    return {"fixed": (gammas < gamma_critical(n, L, ALPHA / m)).any(axis=1), "e_process": e_process,
            "sequential": e_process | (gammas < gamma_critical(n, L, ALPHA / 2 / m)).any(axis=1)}


def check_against_calibration_table(ranks: np.ndarray, fixed: np.ndarray) -> None:
    """The fixed-N flags equal ``calibration_table``'s verdict (checked on a few campaigns)."""
    for c in range(min(5, len(ranks))):
        n = ranks.shape[1]
        table = calibration_table(pd.DataFrame({
            "replicate": np.tile(np.arange(n), 2), "quantity": np.repeat(["mu", "log_lik"], n),
            "variable": np.repeat(["mu", "log_lik"], n), "rank": ranks[c].T.ravel(), "max_rank": L}), ALPHA)
        if bool((~table["calibrated"]).any()) != bool(fixed[c]):
            raise AssertionError(f"campaign {c}: the fixed-N flag differs from calibration_table's verdict")


SCHEMES = {
    "exact": ("exact draws, sized: ESS >= {ratio:g} x N", "without replacement"),
    "chains": ("{chains} AR({rho:g}) chains, sized: ESS >= {ratio:g} x N, thinned", "without replacement"),
    "old-exact": ("400 exact draws (before)", "with replacement"),
    "old-chains": ("2 AR({rho:g}) chains x 1000 draws, pooled (before)", "with replacement"),
}


def table(args) -> pd.DataFrame:
    readings = pd.read_csv(EXAMPLE / "readings.csv")["reading"].to_numpy()
    level = Level(readings)
    schemes = [s for s in SCHEMES if args.old or not s.startswith("old")]
    seeds = np.random.SeedSequence(args.seed).spawn(len(schemes))
    rows = []
    for scheme, seed in zip(schemes, seeds, strict=True):
        start = time.process_time()
        rng = np.random.default_rng(seed)
        runs = [campaign_ranks(scheme, level, rng, args.replicates, args.ratio, args.rho) for _ in range(args.campaigns)]
        ranks, ess = np.stack([r for r, _ in runs]), np.array([e for _, e in runs])
        flagged = verdicts(ranks)
        check_against_calibration_table(ranks, flagged["fixed"])
        reference, drawn = SCHEMES[scheme]
        row = {"reference": reference.format(ratio=args.ratio, rho=args.rho, chains=CHAINS), "θ' drawn": drawn,
               "ESS / N (median)": f"{np.median(ess) / args.replicates:.2f}"}
        for key, label, alpha in (("fixed", "fixed-N gamma, 5%", ALPHA), ("e_process", "e-process, 2.5%", ALPHA / 2),
                                  ("sequential", "sequential campaign, 5%", ALPHA)):
            rate = flagged[key].mean()
            bound = alpha + 2 * np.sqrt(alpha * (1 - alpha) / args.campaigns)
            row[label] = f"{100 * rate:.1f}%" + ("" if rate <= bound else " (over)")
        row["CPU seconds"] = round(time.process_time() - start)
        rows.append(row)
        print(f"{scheme}: {row}", file=sys.stderr)
    return pd.DataFrame(rows)


def results_block(frame: pd.DataFrame, args, command: str) -> str:
    bounds = ", ".join(f"{100 * a:g}% + 2 SE = {100 * (a + 2 * np.sqrt(a * (1 - a) / args.campaigns)):.1f}%"
                       for a in (ALPHA, ALPHA / 2))
    return (f"Posterior SBC's false alarms with exact fits: {args.campaigns} campaigns of N = {args.replicates} "
            f"replicates, L = {L}, two quantities (mu and the log-likelihood of y'); \"(over)\" marks a rate above "
            f"alpha + 2 binomial SE ({bounds}). Produced by `{command}`.\n\n{markdown(frame)}\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for key, value in DEFAULTS.items():
        parser.add_argument(f"--{key}", type=type(value), default=value)
    parser.add_argument("--seed", type=int, default=2502)
    parser.add_argument("--old", action=argparse.BooleanOptionalAction, default=True,
                        help="also the old way, with replacement from a small reference (default: on)")
    args = parser.parse_args()
    command = " ".join([".venv/bin/python validation/posterior.py", *sys.argv[1:]])
    frame = table(args)
    block = results_block(frame, args, command)
    print(block)
    if all(getattr(args, k) == v for k, v in DEFAULTS.items()) and args.old:
        path = HERE / "RESULTS.md"
        path.write_text(replace_block(path.read_text(), BLOCK, block))
        print("wrote validation/RESULTS.md's posterior SBC table")
    new = frame[~frame["reference"].str.endswith("(before)")]
    return 0 if not new.filter(like="%").apply(lambda c: c.str.contains("over")).any().any() else 1


if __name__ == "__main__":
    sys.exit(main())
