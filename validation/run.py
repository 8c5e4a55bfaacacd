"""Reproduce the validation cases whose SBC verdict is known, and tabulate expected vs found.

Each case is a real campaign (validation/campaigns/<case>.yaml) run through `sbc run`, with its
report. For every flagged quantity the table also gives the number of simulations from which it
is flagged (the verdict recomputed on the first k replicates).

    .venv/bin/python validation/run.py [CASE ...] [--output-dir outputs/validation]
"""

import argparse
import subprocess
import sys
from pathlib import Path

import pandas as pd

from sbc_helpers.stats.calibrate import calibration_table

HERE = Path(__file__).resolve().parent
STEPS = (25, 50, 100, 150, 200, 250, 300)

# unit -> (expected in words, quantities that must be flagged (any one of), quantities that must pass)
EXPECTED = {
    "mvn-exact": ("calibrated", [], ["*"]),
    "mvn-posterior_is_prior": ("log_lik flags it (~50 sims); marginals pass", ["log_lik"], ["mu[d1]", "mu[d2]"]),
    "mvn-drop_one": ("log_lik or derived quantities flag it (~100-250 sims)", ["log_lik", "mu_sum", "mu_diff", "mu_prod"], []),
    "mvn-drop_correlation": ("derived quantities flag it (~100-250 sims); marginals pass",
                             ["mu_sum", "mu_diff", "mu_prod", "log_lik"], ["mu[d1]", "mu[d2]"]),
    "t_data": ("sigma miscalibrated (~100-200 sims)", ["sigma"], []),
    "normal_data": ("calibrated (control)", [], ["*"]),
    "centered": ("flagged (theta / tau biased; divergences)", ["theta[A]", "theta[B]", "theta[C]", "theta[D]",
                 "theta[E]", "theta[F]", "theta[G]", "theta[H]", "tau", "mu", "log_lik"], []),
    "noncentered": ("calibrated", [], ["*"]),
    "narrow_prior": ("flagged: U shape in beta", ["beta[x1]", "beta[x2]", "intercept", "sigma", "log_lik"], []),
    "matched_prior": ("calibrated (control)", [], ["*"]),
    "seed-advi": ("flagged: ADVI too narrow", ["*"], []),
    "seed-nuts": ("calibrated (control)", [], ["*"]),
    **{f"control-{label}": ("calibrated (control)", [], ["*"]) for label in (
        "nuts", "nuts-pymc", "nuts-numpyro", "nuts-blackjax", "advi", "fullrank_advi", "pathfinder", "laplace",
        "smc", "exact", "custom")},
    "correlated-nuts": ("calibrated (control)", [], ["*"]),
    "correlated-advi": ("flagged: mean-field ADVI too narrow for correlated beta", ["beta[x1]", "beta[x2]"], []),
}


def flagged_from(ranks: pd.DataFrame, quantity: str) -> int | None:
    """The smallest k in STEPS at which ``quantity`` is flagged using the first k replicates."""
    for k in STEPS:
        if k > ranks["replicate"].nunique():
            break
        table = calibration_table(ranks.loc[ranks["replicate"] < k]).set_index("quantity")
        if not table.loc[quantity, "calibrated"]:
            return k
    return None


def judge(unit: str, calibration: pd.DataFrame, ranks: pd.DataFrame) -> dict:
    expected, must_flag, must_pass = EXPECTED.get(unit, ("(no expectation)", [], []))
    flagged = calibration.loc[~calibration["calibrated"]].sort_values("p_adjusted")["quantity"].tolist()
    ok = True
    if must_flag == ["*"]:
        ok &= bool(flagged)
    elif must_flag:
        ok &= any(q in flagged for q in must_flag)
    if must_pass == ["*"]:
        ok &= not flagged
    else:
        ok &= not any(q in flagged for q in must_pass)
    found = ", ".join(f"{q} (from {flagged_from(ranks, q) or '?'})" for q in flagged[:4]) or "nothing flagged"
    return {"unit": unit, "simulations": ranks["replicate"].nunique(), "expected": expected,
            "found": found, "reproduced": "yes" if ok else "NO"}


def markdown(table: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="*", help="case names (default: every campaign file)")
    parser.add_argument("--output-dir", type=Path, default=Path("outputs/validation"))
    parser.add_argument("--workers", type=int)
    args = parser.parse_args()
    files = sorted((HERE / "campaigns").glob("*.yaml"))
    cases = args.cases or [f.stem for f in files]
    rows = []
    for case in cases:
        command = [sys.executable, "-m", "sbc_helpers.cli", "run", str(HERE / "campaigns" / f"{case}.yaml"),
                   "--output-dir", str(args.output_dir), "-q"] + (["--workers", str(args.workers)] if args.workers else [])
        print("$", " ".join(command[2:]), flush=True)
        subprocess.run(command, check=False)
        campaign_dir = args.output_dir / _campaign_name(HERE / "campaigns" / f"{case}.yaml")
        for unit_dir in sorted(p for p in campaign_dir.iterdir() if (p / "calibration.csv").is_file()):
            calibration = pd.read_csv(unit_dir / "calibration.csv")
            ranks = pd.read_parquet(unit_dir / "ranks.parquet")
            rows.append({"case": case, **judge(unit_dir.name, calibration, ranks)})
    table = pd.DataFrame(rows)
    print(markdown(table))
    (HERE / "RESULTS.md").write_text(
        "# Validation results\n\nProduced by `.venv/bin/python validation/run.py "
        + " ".join(args.cases) + "`; each case's report is under `"
        + str(args.output_dir) + "/<case>/index.html`.\n`found` lists flagged quantities, worst first, "
        "with the number of simulations from which each is flagged.\n\n" + markdown(table) + "\n"
    )
    return 0 if (table["reproduced"] == "yes").all() else 1


def _campaign_name(path: Path) -> str:
    import yaml

    return yaml.safe_load(path.read_text())["name"]


if __name__ == "__main__":
    sys.exit(main())
