"""Reproduce the validation cases whose SBC verdict is known, and tabulate expected vs found, strictly.

Each case is a real campaign (validation/campaigns/<case>.yaml) run through `sbc run`, with its
report. The checks:

- every unit of every case has an expectation (``EXPECTED``); a unit without one fails the table;
- a non-zero exit of `sbc run` fails every row of its case; only this run's units, read from the
  campaign's manifest, are tabulated (stale folders on disk are not);
- an expectation names the quantities that must ALL be flagged, those of which ANY one must be,
  those that must pass, and, where the literature gives it, the ``reading`` (direction) a flagged
  quantity must show ("too narrow", "biased high", ...);
- "from k": the first look from which a quantity stays flagged at every later look, each look k
  counting the first k successful replicates (by replicate index).

With every case and the campaigns' own replicate counts, validation/RESULTS.md (which the docs'
validation page includes) is rewritten from this output; otherwise the table goes to
``<output-dir>/RESULTS.md`` only.

    .venv/bin/python validation/run.py [CASE ...] [--output-dir outputs/validation] [--replicates N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from sbc_helpers.stats import ALPHA
from sbc_helpers.stats.calibrate import calibration_table
from validation.tables import block, markdown

HERE = Path(__file__).resolve().parent
LOOKS = (25, 50, 100, 150, 200, 250, 300)
ANY = "*"  # in flag_any: any quantity; in must_pass: every quantity; in readings: any flagged quantity


@dataclass(frozen=True)
class Expect:
    """What a unit's verdict must show.

    ``flag_all``: every one flagged; ``flag_any``: at least one flagged (``("*",)``: any quantity);
    ``must_pass``: none of these flagged (``("*",)``: nothing flagged); ``readings``: quantity ->
    words its ``reading`` must contain when it is flagged (``"*"``: at least one flagged quantity's);
    at least one quantity named in ``readings`` must be flagged for the check to pass.
    """

    words: str
    flag_all: tuple[str, ...] = ()
    flag_any: tuple[str, ...] = ()
    must_pass: tuple[str, ...] = ()
    readings: tuple[tuple[str, str], ...] = ()


CALIBRATED = Expect("calibrated (control)", must_pass=(ANY,))
MVN_DERIVED = ("mu_sum", "mu_diff", "mu_prod", "log_lik")
THETAS = tuple(f"theta[{s}]" for s in "ABCDEFGH")

# case -> unit -> expectation. Directions: a posterior ignoring the data puts the true parameters'
# log-likelihood high among its draws (Modrák et al. 2023); dropping the correlation of 0.8 makes
# mu_sum's posterior too narrow and mu_diff's too wide (same paper, exact variances 3.6 / (n + 1) and
# 0.4 / (n + 1) against 2 / (n + 1)); a normal fitted to Student-t(4) data overestimates the scale
# (the t(4) sd is sqrt(2) sigma); a prior narrower than the data-generating one gives U-shaped ranks
# and mean-field ADVI underestimates posterior variance (Talts et al. 2018, section 6). Eight
# schools: the Stan guide shows the centred model flagged but names no direction.
EXPECTED: dict[str, dict[str, Expect]] = {
    "mvn": {
        "mvn-exact": CALIBRATED,
        "mvn-posterior_is_prior": Expect("log_lik flagged, true values high (~50 sims); marginals pass",
                                         flag_all=("log_lik",), must_pass=("mu[d1]", "mu[d2]"),
                                         readings=(("log_lik", "biased low"),)),
        "mvn-drop_one": Expect("log_lik or a derived quantity flagged (~100-250 sims)", flag_any=MVN_DERIVED),
        "mvn-drop_correlation": Expect("derived quantities flagged: mu_sum too narrow, mu_diff too wide; marginals "
                                       "pass", flag_any=MVN_DERIVED, must_pass=("mu[d1]", "mu[d2]"),
                                       readings=(("mu_sum", "too narrow"), ("mu_diff", "too wide"))),
    },
    "student_t": {
        "t_data": Expect("sigma flagged, biased high (~100-200 sims)", flag_all=("sigma",),
                         readings=(("sigma", "biased high"),)),
        "normal_data": CALIBRATED,
    },
    "eight_schools": {
        "centered": Expect("flagged (theta / tau / mu; direction not given)", flag_any=(*THETAS, "tau", "mu", "log_lik")),
        "noncentered": CALIBRATED,
    },
    "narrow_prior": {
        "narrow_prior": Expect("beta flagged, U shape (too narrow)", flag_any=("beta[x1]", "beta[x2]"),
                               readings=(("beta[x1]", "too narrow"), ("beta[x2]", "too narrow"))),
        "matched_prior": CALIBRATED,
    },
    "advi": {
        "seed-advi": Expect("flagged: ADVI too narrow", flag_any=(ANY,), readings=((ANY, "too narrow"),)),
        "seed-nuts": CALIBRATED,
    },
    # Every method on a conjugate normal mean (each approximation family holds the exact posterior),
    # and mean-field ADVI too narrow on coefficients whose posterior correlation it ignores (Blei,
    # Kucukelbir and McAuliffe 2017; Talts et al. 2018, section 6).
    "methods": {
        **{f"control-{label}": CALIBRATED for label in (
            "nuts", "nuts-pymc", "nuts-numpyro", "nuts-blackjax", "advi", "fullrank_advi", "pathfinder", "laplace",
            "smc", "exact", "custom")},
        "correlated-nuts": CALIBRATED,
        "correlated-advi": Expect("beta flagged, too narrow (mean field ignores the correlation)",
                                  flag_any=("beta[x1]", "beta[x2]"),
                                  readings=(("beta[x1]", "too narrow"), ("beta[x2]", "too narrow"))),
    },
}


def successful_ranks(ranks: pd.DataFrame, replicates: pd.DataFrame) -> pd.DataFrame:
    """Ranks of the successful replicates, each with its position ``k`` among them (by replicate index)."""
    ok = sorted(replicates.loc[replicates["status"] == "ok", "replicate"].astype(int))
    position = {r: i + 1 for i, r in enumerate(ok)}
    ranks = ranks.loc[ranks["replicate"].isin(position)]
    return ranks.assign(k=ranks["replicate"].map(position))


def flagged_from(ranks: pd.DataFrame, looks: tuple[int, ...] = LOOKS, alpha: float = ALPHA) -> dict[str, int]:
    """Per quantity flagged at the last look, the first look from which it stays flagged.

    ``ranks`` carry ``k`` (``successful_ranks``); the looks are those of ``looks`` below the number
    of successful replicates, then that number itself (the verdict's own look)."""
    n = int(ranks["k"].max()) if len(ranks) else 0
    grid = [k for k in looks if k < n] + ([n] if n else [])
    flagged = {k: set(calibration_table(ranks.loc[ranks["k"] <= k], alpha).query("~calibrated")["quantity"])
               for k in grid}
    since: dict[str, int] = {}
    alive = flagged[grid[-1]] if grid else set()
    for k in reversed(grid):
        alive = alive & flagged[k]  # flagged at k and at every later look
        since.update(dict.fromkeys(alive, k))
    return since


def check(expect: Expect, calibration: pd.DataFrame) -> list[str]:
    """What in ``expect`` the calibration table does not show ([]: reproduced)."""
    table = calibration.set_index("quantity")
    flagged = set(table.index[~table["calibrated"].astype(bool)])
    problems = []
    missing = [q for q in expect.flag_all if q not in flagged]
    if missing:
        problems.append(f"not flagged: {', '.join(missing)}")
    if expect.flag_any and not (flagged if ANY in expect.flag_any else flagged & set(expect.flag_any)):
        problems.append("none flagged of " + ("any quantity" if ANY in expect.flag_any else ", ".join(expect.flag_any)))
    wrongly = flagged if ANY in expect.must_pass else flagged & set(expect.must_pass)
    if wrongly:
        problems.append(f"flagged but must pass: {', '.join(sorted(wrongly))}")
    if expect.readings:
        reading = lambda q: str(table.loc[q, "reading"])  # noqa: E731
        named = [(q, w) for q, w in expect.readings if q != ANY and q in flagged]
        for quantity, words in named:
            if words not in reading(quantity):
                problems.append(f"{quantity} reads '{reading(quantity)}', not '{words}'")
        for _, words in [(q, w) for q, w in expect.readings if q == ANY]:
            if not any(words in reading(q) for q in flagged):
                problems.append(f"no flagged quantity reads '{words}'")
        if not named and all(q != ANY for q, _ in expect.readings):
            problems.append("no quantity with an expected reading is flagged")
    return problems


def judge(case: str, unit: str, unit_dir: Path) -> dict:
    """One row of the table for a unit this run produced."""
    row = {"case": case, "unit": unit, "simulations": 0, "failed": 0}
    expect = EXPECTED.get(case, {}).get(unit)
    row["expected"] = expect.words if expect else "(no expectation)"
    try:
        calibration = pd.read_csv(unit_dir / "calibration.csv")
        ranks = pd.read_parquet(unit_dir / "ranks.parquet")
        replicates = pd.read_parquet(unit_dir / "replicates.parquet")
    except OSError as err:
        return {**row, "found": f"no report ({type(err).__name__})", "reproduced": "NO: no report"}
    ranked = successful_ranks(ranks, replicates)
    row["simulations"] = int(ranked["k"].max()) if len(ranked) else 0
    row["failed"] = int((replicates["status"] != "ok").sum())
    since = flagged_from(ranked)
    bad = calibration.loc[~calibration["calibrated"].astype(bool)].sort_values("p_adjusted")
    row["found"] = "; ".join(f"{q} (from {since.get(q, '?')}: {r})" for q, r in zip(bad["quantity"], bad["reading"],
                                                                                     strict=True)) or "nothing flagged"
    problems = ["no expectation"] if expect is None else check(expect, calibration)
    return {**row, "reproduced": "NO: " + "; ".join(problems) if problems else "yes"}


def run_case(case: str, output_dir: Path, workers: int | None, replicates: int | None) -> list[dict]:
    """Run one case's campaign; one row per unit of its manifest (and per expected unit it lacks)."""
    params = HERE / "campaigns" / f"{case}.yaml"
    command = [sys.executable, "-m", "sbc_helpers.cli", "run", str(params), "--output-dir", str(output_dir), "-q"]
    command += ["--workers", str(workers)] if workers else []
    command += ["--replicates", str(replicates)] if replicates is not None else []
    print("$", " ".join(command[2:]), flush=True)
    code = subprocess.run(command, check=False).returncode
    from sbc_helpers.run.params import campaign_from, load_campaign
    from sbc_helpers.run.store import read_manifest

    campaign_dir = output_dir / load_campaign(params).name
    try:
        units = [u.name for u in campaign_from(read_manifest(campaign_dir)).units()]
    except Exception as err:  # noqa: BLE001 - no manifest: nothing of this run to read
        units, code = [], code or 1
        print(f"{case}: no manifest: {err}", file=sys.stderr)
    rows = [judge(case, unit, campaign_dir / unit) for unit in units]
    rows += [{"case": case, "unit": unit, "simulations": 0, "failed": 0, "expected": expect.words,
              "found": "not run", "reproduced": "NO: not in this run's manifest"}
             for unit, expect in EXPECTED.get(case, {}).items() if unit not in units]
    if code != 0:
        for row in rows:
            reason = f"sbc run exited {code}"
            row["reproduced"] = f"NO: {reason}" + ("" if row["reproduced"] == "yes" else "; " + row["reproduced"][4:])
    return rows


def results_text(table: pd.DataFrame, command: str, output_dir: Path) -> str:
    return ("# Validation results\n\nProduced by `" + command + "`; each case's report is under `"
            + str(output_dir) + "/<case>/index.html`.\n`simulations`: successful replicates; `failed`: failed or "
            "not run. `found` lists flagged quantities, worst first, each with the look (number of successful "
            "simulations) from which it stays flagged, and its reading.\n\n" + markdown(table) + "\n")


def table_block(results: str) -> str:
    """The Markdown table of a RESULTS.md text (not validation/posterior.py's, between its markers)."""
    own = results.replace(block(results, "posterior-sbc"), "")
    return "\n".join(line for line in own.splitlines() if line.startswith("|"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="*", help="case names (default: every campaign file)")
    parser.add_argument("--output-dir", type=Path, default=Path("outputs/validation"))
    parser.add_argument("--workers", type=int)
    parser.add_argument("--replicates", type=int, help="override every campaign's replicates (a quick check)")
    args = parser.parse_args()
    every = sorted(f.stem for f in (HERE / "campaigns").glob("*.yaml"))
    cases = args.cases or every
    unknown = [c for c in cases if c not in every]
    if unknown:
        parser.error(f"no campaign file for {', '.join(unknown)}")
    rows = [row for case in cases for row in run_case(case, args.output_dir, args.workers, args.replicates)]
    table = pd.DataFrame(rows, columns=["case", "unit", "simulations", "failed", "expected", "found", "reproduced"])
    command = ".venv/bin/python validation/run.py " + " ".join(sys.argv[1:])
    results = results_text(table, command.strip(), args.output_dir)
    print(table_block(results))
    complete = sorted(cases) == every and args.replicates is None
    target = HERE / "RESULTS.md" if complete else args.output_dir / "RESULTS.md"
    target.parent.mkdir(parents=True, exist_ok=True)
    kept = block(target.read_text(), "posterior-sbc") if target.is_file() else ""  # validation/posterior.py's
    target.write_text(results + (f"\n{kept}\n" if kept else ""))
    print(f"wrote {target}" + ("" if complete else " (not every case at full size: validation/RESULTS.md is left "
                                "as it was)"))
    return 0 if (table["reproduced"] == "yes").all() else 1


if __name__ == "__main__":
    sys.exit(main())
