"""Plant one-line defects, one at a time, and check that the test suite catches each.

Each defect is a change a future edit could make. The script writes it into the source, runs the
tests named for it (the quick tier, ``-m "not slow"``, for those marked quick), puts the line back
and prints whether some test failed. Run it before and after restructuring the suite:

    .venv/bin/python scripts/defects.py            # every defect
    .venv/bin/python scripts/defects.py rank retries

A defect whose line is not found is reported as such (the code moved: update the line here). Each
defect's row in the table in tests/README.md (between the defects markers) is rewritten by its run.
"""

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "tests" / "README.md"
START, END = "<!-- defects:start -->", "<!-- defects:end -->"


@dataclass
class Defect:
    name: str
    what: str
    file: str
    line: str  # the line as it is (stripped of its indentation for the match)
    defect: str  # what it becomes
    tests: tuple[str, ...]  # pytest paths or node ids to run
    quick: bool = False  # run with -m "not slow": the quick tier must catch it


DEFECTS = [
    Defect("rank", "the rank off by one", "sbc_helpers/stats/ranks.py",
           "below = int(np.sum((draws < truth) & ~tied))", "below = int(np.sum((draws < truth) & ~tied)) + 1",
           ("tests/stats/test_ranks.py", "tests/run/test_steps.py"), quick=True),
    Defect("retries", "retries disabled", "sbc_helpers/run/loop.py",
           "if record.status != \"ok\" and tries <= self.campaign.retries:",
           "if record.status != \"ok\" and tries <= 0:", ("tests/run/test_runner.py",), quick=True),
    Defect("resume", "a resumed run redoes finished replicates", "sbc_helpers/run/tasks.py",
           "if store.state(store.unit_dir(folder, unit.name), r) == \"complete\":",
           "if store.state(store.unit_dir(folder, unit.name), r) == \"done\":", ("tests/run/test_runner.py",), quick=True),
    Defect("slurm-jobs", "SLURM jobs left running at exit (SIGTERM ends sbc on the spot)",
           "sbc_helpers/run/clusters/signals.py",
           "saved = {sig: signal.signal(sig, _raise_exit) for sig in (signal.SIGTERM, signal.SIGHUP)}",
           "saved = {}", ("tests/run/test_slurm.py",), quick=True),
    Defect("escaping", "escaping removed from a page", "sbc_helpers/report/tables.py",
           "return jinja2.Environment(loader=jinja2.PackageLoader(\"sbc_helpers.report\", \"templates\"), autoescape=True,",
           "return jinja2.Environment(loader=jinja2.PackageLoader(\"sbc_helpers.report\", \"templates\"), autoescape=False,",
           ("tests/report",)),
    Defect("sequential", "the sequential threshold doubled", "sbc_helpers/stats/sequential.py",
           "bar = np.log(1 / alpha)", "bar = np.log(2 / alpha)", ("tests/stats", "tests/run/test_sequential.py")),
    Defect("failed-as-ok", "a failed replicate recorded as ok", "sbc_helpers/contract.py",
           "return cls(replicate=replicate, seed=seed, status=\"failed\", error=error, message=one_line(message), **fields)",
           "return cls(replicate=replicate, seed=seed, status=\"ok\", error=error, message=one_line(message), **fields)",
           ("tests/run/test_store.py", "tests/run/test_faults.py", "tests/run/test_failing_units.py")),
    Defect("small-reference", "posterior SBC keeping a reference too small for the campaign",
           "sbc_helpers/run/posterior.py", "while fits == 0 or ess < target:", "while fits == 0:",
           ("tests/run/test_posterior.py", "tests/simulation/test_conditioning.py")),
    Defect("mixed-resume", "a resumed run keeping replicates of an edited model", "sbc_helpers/run/claims.py",
           "if before is not None and before != made_from and store.has_finished(store.unit_dir(folder, name)):",
           "if False:", ("tests/run/test_resume.py",), quick=True),
]


def plant(defect: Defect) -> str | None:
    """Write the defect in; return the file's text as it was (None when the line is not found)."""
    path = ROOT / defect.file
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    hits = [i for i, line in enumerate(lines) if line.strip() == defect.line]
    if len(hits) != 1:
        return None
    i = hits[0]
    indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
    lines[i] = indent + defect.defect + "\n"
    path.write_text("".join(lines))
    return text


def main(names: list[str]) -> int:
    chosen = [d for d in DEFECTS if not names or d.name in names]
    missed, rows = 0, {}
    for defect in chosen:
        original = plant(defect)
        if original is None:
            print(f"{defect.name}: line not found in {defect.file}", flush=True)
            missed += 1
            continue
        started = time.monotonic()
        try:
            cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-n", "2",
                   "--dist", "loadfile", *(["-m", "not slow"] if defect.quick else []), *defect.tests]
            done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        finally:
            (ROOT / defect.file).write_text(original)
        # pytest's summary lines ("FAILED tests/...::test - reason"), not captured log lines ("ERROR  sbc:...")
        failed = [line.split(" ", 1)[1].split(" - ")[0] for line in done.stdout.splitlines()
                  if line.startswith(("FAILED tests/", "ERROR tests/"))]
        caught = done.returncode != 0 and failed
        missed += not caught
        tier = "quick tier" if defect.quick else "suite"
        print(f"{defect.name} ({defect.what}): {'caught' if caught else 'NOT CAUGHT'} by the {tier} in "
              f"{time.monotonic() - started:.0f} s: {failed[0] if failed else done.stdout.strip().splitlines()[-1:]}",
              flush=True)
        rows[defect.what] = (f"| {defect.what} | `{defect.file}`: `{defect.defect}` | "
                             f"{f'`{failed[0]}` ({tier})' if caught else '**not caught**'} |")
    write_rows(rows)
    return 1 if missed else 0


def write_rows(rows: dict[str, str]) -> None:
    """Put the defects' rows into tests/README.md's table, in the order of ``DEFECTS``."""
    text = README.read_text()
    head, _, rest = text.partition(START)
    table, _, tail = rest.partition(END)
    old = {line.split(" | ")[0][2:]: line for line in table.strip().splitlines() if line.startswith("| ")}
    order = [d.what for d in DEFECTS]
    lines = [{**old, **rows}[what] for what in order if what in {**old, **rows}]
    README.write_text(head + START + "\n" + "\n".join(lines) + "\n" + END + tail)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
