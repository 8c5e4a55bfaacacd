"""Settings, paths and targets shared by the runner and the rows.
"""

import sys
from pathlib import Path


HERE = Path(__file__).resolve().parents[1]  # benchmarks/


REPO = HERE.parent


VENV_BIN = Path(sys.executable).parent  # run with .venv/bin/python: sbc sits beside it


SIMUK_VENV = HERE / ".venv-simuk"


SIMUK_PYTHON = SIMUK_VENV / "bin" / "python"


SIMUK_REQUIREMENT = "simuk==0.3.*"


GIB = 1024**3


CPU_KINDS = {"kernel": "kernels", "worker": "Dask workers (papermill driving the kernel)",
             "root": "client + scheduler + nannies", "other": "other"}


FULL = {"draws": 1000, "tune": 2000, "chains": 3, "target_accept": 0.95, "simulations": 16}


QUICK = {"draws": 100, "tune": 100, "chains": 3, "target_accept": 0.95, "simulations": 4}


DESIGN = {"maker": "seed_design", "n_groups": 5, "n_points": 10, "seed": 1234}


MODEL_NAME, MODEL = "centered", "hierarchical_centered"


CAMPAIGN_SEED = 1234


RANK_DRAWS = 100


BASELINE_ROWS = ("simuk", "inprocess", "inprocess-figures")


CAMPAIGN_ROWS = ("sbc1w", "sbc2w", "sbc2w-noplots", "cluster1w", "cluster2w")


STAGES = ("imports", "design", "model", "prior", "fit", "plots", "summary", "ranks", "write")


DEMO = {"draws": 1000, "tune": 1000, "chains": 2, "target_accept": 0.95, "simulations": 16}  # params/demo.yaml

# issue #20's targets, with #25's for simuk and a kernel's first replicate
TARGETS = {
    "campaign_vs_simuk": 3.0,  # at 16 simulations; 6.0 from 64 (CAMPAIGN_VS_SIMUK_AT_64)
    "campaign_vs_inprocess_figures": 1.2,  # against the loop that draws the same figures
    "replicate_over_fit": 2.0,  # a warm replicate's median wall time over its fit's
    "figures_s_per_replicate": 0.1,
    "ranks_s_per_replicate": 0.03,  # ranks and the log-likelihood
    "first_replicate_s": 8.0,  # a kernel's first replicate, the Numba cache loaded
    "scaling_2w_over_1w": 1.8,
    "peak_worker_gib": 1.5,
    "replicate_output_mb": 0.4,
}
CAMPAIGN_VS_SIMUK_AT_64 = 6.0


def settings_args(s: dict, cores: int) -> list[str]:
    return ["--simulations", str(s["simulations"]), "--draws", str(s["draws"]), "--tune", str(s["tune"]),
            "--chains", str(s["chains"]), "--target-accept", str(s["target_accept"]), "--cores", str(cores)]
