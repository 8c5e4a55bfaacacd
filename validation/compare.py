"""Validation of ``sbc compare``: its false alarms between calibrated campaigns, and the known
regressions it catches, with how many replicates each needs.

False alarms (NumPy, no fits: the statistics are what is under test, as in ``type1.py``). Campaigns
of ``--quantities`` independent conjugate normal-normal quantities ranked among L exact posterior
draws, compared by ``stats.compare`` exactly as ``sbc compare`` compares them (pairing check, test
per quantity, Holm across quantities); a false alarm is a pair with any quantity flagged worse:

- paired: both campaigns draw the same true values and data from the same seeds (as two campaigns
  of one params file do) and fit them independently (the fits' randomness differs: another sampler
  version, another method), so ``stats.compare.pairing`` pairs them;
- unpaired: the second campaign has another seed, so its true values differ.

Known regressions (real campaigns through the whole pipeline, ``api.run_campaign``): three
campaigns, a baseline, the same baseline with another seed (for the unpaired comparison) and the
current one, each with the units below; each unit of the current campaign is compared with the
baseline's on its first n replicates for growing n, paired and unpaired:

- ``advi``: the seed's hierarchical regression fitted by NUTS, then by mean-field ADVI;
- ``prior``: a linear regression whose model file's coefficient prior is edited from N(0, 3),
  the simulator's, to N(0, 1), the simulator unchanged (the true values stay the same: paired);
- ``divergent``: the centred eight schools with NUTS at target_accept 0.95, then 0.6.

A regression is "caught from n" when the comparison counts it worse (calibration, failures or
flags) at n and at every larger n of the grid.

    .venv/bin/python validation/compare.py [--pairs 400] [--replicates 100] [--workers 2] [--out FILE]
    .venv/bin/python validation/compare.py --quick     # a smoke run: 40 pairs, 20 replicates
"""

from __future__ import annotations

import argparse
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd

from sbc_helpers.stats import ALPHA
from sbc_helpers.stats import compare as stats

HERE = Path(__file__).resolve().parent


# --- false alarms ---------------------------------------------------------------------------------

def conjugate_campaign(seed: int, fit_seed: int, n: int, L: int, k: int, points: int = 10):
    """Ranks and replicate records of a campaign of ``k`` normal-normal quantities (mu ~ N(0, 1),
    ``points`` observations y ~ N(mu, 1)); true values from ``seed``, posterior draws from ``fit_seed``."""
    truths = np.random.default_rng(seed)
    mu = truths.normal(size=(n, k))
    ybar = truths.normal(mu, 1 / np.sqrt(points))
    fits = np.random.default_rng(fit_seed)
    draws = fits.normal((points * ybar / (points + 1))[..., None], np.sqrt(1 / (points + 1)), size=(n, k, L))
    rank = (draws < mu[..., None]).sum(axis=-1)
    ranks = pd.DataFrame({"replicate": np.repeat(np.arange(n), k), "quantity": np.tile([f"mu[{i}]" for i in range(k)], n),
                          "rank": rank.ravel(), "max_rank": L, "true_value": mu.ravel()})
    replicates = pd.DataFrame({"replicate": np.arange(n), "seed": seed * 100_000 + np.arange(n), "status": "ok"})
    return ranks, replicates


def false_alarms(pairs: int, n: int, L: int, k: int, permutations: int, seed: int) -> list[dict]:
    rows = []
    for kind in ("paired", "unpaired"):
        alarms, how = 0, set()
        start = time.process_time()
        for i in range(pairs):
            s = seed + 10 * i
            base = conjugate_campaign(s, s + 1, n, L, k)
            current = conjugate_campaign(s if kind == "paired" else s + 2, s + 3, n, L, k)
            pairing = stats.pairing(base[0], base[1], current[0], current[1])
            how.add(pairing.paired)
            table = stats.calibration_changes(base[0], current[0], pairing, ALPHA, permutations, seed=i)
            alarms += bool(table["worse"].any())
        assert how == {kind == "paired"}, f"{kind}: the pairing check said {how}"
        rate = alarms / pairs
        se = np.sqrt(rate * (1 - rate) / pairs)
        rows.append({"comparison": kind, "pairs": pairs, "replicates": n, "quantities": k, "rank draws": L,
                     "false alarms": alarms, "rate": rate, "binomial SE": se, "95% upper bound": rate + 1.645 * se,
                     "CPU seconds": round(time.process_time() - start, 1)})
    return rows


# --- known regressions ----------------------------------------------------------------------------

MODEL = textwrap.dedent("""
    import numpy as np
    import pymc as pm


    def build(design):
        covariates = [c for c in design.columns if c.startswith("x")]
        with pm.Model(coords={"covariate": covariates, "obs": design.index}) as model:
            X = pm.Data("X", design[covariates].to_numpy(), dims=("obs", "covariate"))
            intercept = pm.Normal("intercept", 0, 2)
            beta = pm.Normal("beta", 0, PRIOR_SD, dims="covariate")
            sigma = pm.HalfNormal("sigma", 1)
            pm.Normal("y", intercept + X @ beta, sigma, observed=np.zeros(len(design)), dims="obs")
        return model
""")

NUTS = {"method": "nuts", "sampler": "nutpie", "draws": 500, "tune": 500, "chains": 2}
REGRESSIONS = {
    "advi": ("NUTS -> mean-field ADVI (seed's hierarchical regression)",
             {"model": "hierarchical_noncentered", "design": {"maker": "seed_design", "n_groups": 5, "n_points": 10,
                                                              "seed": 1234}},
             {"inference": {**NUTS, "target_accept": 0.9}}, {"inference": {"method": "advi", "iterations": 20000,
                                                                           "draws": 1000}}),
    "prior": ("model file's prior N(0, 3) -> N(0, 1), simulator unchanged (linear regression)",
              {"model": "model.py:build", "simulator": f"{HERE / 'cases.py'}:wide_prior_linear_simulator",
               "design": {"maker": "regression_design", "n_points": 10, "n_covariates": 2}, "inference": NUTS},
              {}, {}),
    "divergent": ("target_accept 0.95 -> 0.6 (centred eight schools)",
                  {"model": "eight_schools_centered", "design": {"maker": "eight_schools_design"}},
                  {"inference": {**NUTS, "target_accept": 0.95}}, {"inference": {**NUTS, "target_accept": 0.6}}),
}


def _params(side: str, seed: int, replicates: int, folder: Path) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.py").write_text(MODEL.replace("PRIOR_SD", "1" if side == "current" else "3"))
    models = [{"name": name, **common, **(current if side == "current" else base)}
              for name, (_, common, base, current) in REGRESSIONS.items()]
    return {"name": f"{side}-{seed}", "seed": seed, "replicates": replicates, "rank_draws": 100, "make_plots": False,
            "timeout": 600, "models": models, "base_dir": str(folder)}


def run_campaigns(out: Path, replicates: int, workers: int, seed: int) -> dict[str, Path]:
    from sbc_helpers.api import run_campaign
    from sbc_helpers.run.params import campaign_from

    folders = {}
    for label, side, s in (("baseline", "baseline", seed), ("other seed", "baseline", seed + 1), ("current", "current", seed)):
        campaign = campaign_from(_params(side, s, replicates, out / "files" / label.replace(" ", "_")), label)
        print(f"running {label}: {replicates} replicates of {len(REGRESSIONS)} units", flush=True)
        folders[label] = run_campaign(campaign, out / "campaigns", workers=workers, report=False,
                                      progress=False).result.campaign_dir
    return folders


def caught(folders: dict[str, Path], grid: list[int]) -> list[dict]:
    from types import SimpleNamespace

    from sbc_helpers.report import analysis, compare
    from sbc_helpers.run import store
    from sbc_helpers.run.params import campaign_from

    def tables(folder, unit):
        campaign = campaign_from(store.read_manifest(folder), str(folder))
        return analysis.gather(folder, unit, campaign, write=False)

    rows = []
    for unit, (description, *_) in REGRESSIONS.items():
        current = tables(folders["current"], unit)
        row = {"regression": unit, "change": description}
        for kind, baseline in (("paired", "baseline"), ("unpaired", "other seed")):
            base = tables(folders[baseline], unit)
            flagged, how = {}, ""
            for n in grid:
                cut = lambda t: SimpleNamespace(ranks=t.ranks.loc[t.ranks["replicate"] < n],  # noqa: E731
                                                replicates=t.replicates.loc[t.replicates["replicate"] < n])
                result = compare.compare_unit(unit, cut(base), cut(current))
                how = result.pairing.how.split(":")[0]
                worse = result.rows.loc[result.rows["worse"].astype(bool)]
                flagged[n] = sorted(set(worse["kind"].replace({"failed": "failures", "flagged": "flags"})))
            from_n = next((n for i, n in enumerate(grid) if all(flagged[m] for m in grid[i:])), None)
            row[f"{kind}: caught from"] = f"{from_n} ({', '.join(flagged[grid[-1]])})" if from_n else \
                f"not within {grid[-1]}"
            row[f"{kind}: checked as"] = how
        rows.append(row)
    return rows


def markdown(frame: pd.DataFrame) -> str:
    cells = frame.astype(object).map(lambda v: f"{v:.4f}" if isinstance(v, float) else str(v))
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in cells.to_numpy()])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=400, help="campaign pairs per false-alarm rate (>= 200)")
    parser.add_argument("--null-replicates", type=int, default=200, help="replicates per false-alarm campaign")
    parser.add_argument("--quantities", type=int, default=4, help="quantities per false-alarm campaign")
    parser.add_argument("--replicates", type=int, default=100, help="replicates per regression campaign")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=31)
    parser.add_argument("--output-dir", type=Path, help="keep the regression campaigns here (default: a temporary folder)")
    parser.add_argument("--out", type=Path, help="write the markdown here too")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 40 pairs of 50, regressions at 20")
    args = parser.parse_args(argv)
    if args.quick:
        args.pairs, args.null_replicates, args.replicates = 40, 50, 20
    started = time.monotonic()
    null = pd.DataFrame(false_alarms(args.pairs, args.null_replicates, 100, args.quantities, stats.PERMUTATIONS,
                                     args.seed))
    grid = [n for n in (10, 20, 30, 50, 75, 100, 150, 200, 300) if n < args.replicates] + [args.replicates]
    with tempfile.TemporaryDirectory() as scratch:
        out = args.output_dir or Path(scratch)
        regressions = pd.DataFrame(caught(run_campaigns(out, args.replicates, args.workers, args.seed), grid))
    command = "python validation/compare.py" + (" --quick" if args.quick else "")
    text = "\n\n".join([
        f"False alarms of `sbc compare` between calibrated campaigns (alpha {ALPHA}, Holm across quantities; "
        f"a pair counts when any quantity is flagged worse):", markdown(null),
        f"Known regressions, compared on the first n replicates (n in {grid}), paired against the same seed and "
        "unpaired against another seed; in brackets what counted as worse at the largest n:", markdown(regressions),
        f"Produced by `{command}` in {time.monotonic() - started:.0f} s."])
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
