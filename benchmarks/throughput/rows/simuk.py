"""The simuk row: simuk 0.3 ``SBC.run_simulations`` in its own venv (benchmarks/.venv-simuk).
"""

import json
import os
import subprocess
from pathlib import Path

from benchmarks.throughput.common import CAMPAIGN_SEED, HERE, REPO, SIMUK_PYTHON, SIMUK_REQUIREMENT, SIMUK_VENV, settings_args
from benchmarks.throughput.monitor import memory_summary, run_watched


def ensure_simuk_venv(log) -> tuple[bool, str]:
    """Create benchmarks/.venv-simuk with simuk 0.3 and the project's pinned PyMC stack, if missing."""
    if SIMUK_PYTHON.is_file():
        check = subprocess.run([str(SIMUK_PYTHON), "-c", "import simuk, pymc, nutpie"], capture_output=True, text=True)
        if check.returncode == 0:
            return True, "present"
    python = os.environ.get("PYTHON") or subprocess.run(
        ["bash", str(REPO / "scripts" / "find-python.sh")], capture_output=True, text=True).stdout.strip()
    if not python:
        return False, "no Python >= 3.12 found for simuk's venv (set PYTHON=...)"
    log(f"creating {SIMUK_VENV.relative_to(REPO)} with {python} (once)")
    steps = [
        [python, "-m", "venv", str(SIMUK_VENV)],
        # the project's pins (-c) keep PyMC, PyTensor, nutpie and NumPy at the campaign's versions
        [str(SIMUK_PYTHON), "-m", "pip", "install", "--quiet", SIMUK_REQUIREMENT, "pymc", "nutpie", "pandas",
         "-c", str(REPO / "requirements.lock")],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            return False, f"{' '.join(step[:4])}... failed: {(done.stderr or done.stdout).strip()[-500:]}"
    return True, "installed"


def row_simuk(s: dict, cores: int, work: Path, logs: Path) -> dict:
    out = work / "simuk.json"
    ran = run_watched([str(SIMUK_PYTHON), str(HERE / "simuk_driver.py"), *settings_args(s, cores),
                       "--seed", str(CAMPAIGN_SEED), "--out", str(out)], logs / "simuk")
    if not out.is_file():
        return {"tool": "simuk 0.3 run_simulations", "error": f"exit {ran['rc']}: {ran['stderr_tail'][-500:]}"}
    d = json.loads(out.read_text())
    sampler = sum(d["sample_seconds"])
    steady = d["run_simulations_seconds"]
    return {
        "tool": "simuk 0.3 run_simulations", "key": "simuk", "replicates": d["completed"],
        "failed": d["requested"] - d["completed"], "exit_code": ran["rc"],
        "wall_e2e": ran["wall"], "wall_steady": steady,
        "steady_means": "SBC.run_simulations() (prior predictive + every fit + ranks); e2e adds Python "
                        "start-up, imports and model build",
        "sampler_seconds": sampler, "figures_seconds": 0.0,
        "overhead_pct": 100 * (steady - sampler) / steady,
        "memory": memory_summary(ran["monitor"]), "versions": d["versions"], "python": d["python"],
        "sample_kwargs": d["sample_kwargs"], "import_seconds": d["import_seconds"],
    }
