"""The in-process rows: a plain loop of the template's steps in one process, with or without the
template's figures (benchmarks/inprocess_loop.py).
"""

import json
import statistics
import sys
from pathlib import Path

from benchmarks.throughput.common import CAMPAIGN_SEED, HERE, MODEL_NAME, RANK_DRAWS, settings_args
from benchmarks.throughput.monitor import memory_summary, run_watched


def loop_command(s: dict, cores: int, figures: bool, scratch: Path, out: Path) -> list[str]:
    """The in-process loop on the campaign's seeds (``figures``: with the template's figures and table)."""
    return [sys.executable, str(HERE / "inprocess_loop.py"), *settings_args(s, cores),
            "--rank-draws", str(RANK_DRAWS), "--seed", str(CAMPAIGN_SEED), "--model-name", MODEL_NAME,
            "--scratch", str(scratch), "--out", str(out), *(["--figures"] if figures else [])]


def row_inprocess(s: dict, cores: int, work: Path, logs: Path, figures: bool = False) -> dict:
    """The in-process loop; ``figures``: with the template's figures and table (a replicate's whole
    work but the notebook)."""
    key = "inprocess-figures" if figures else "inprocess"
    tool = (f"in-process loop + the template's figures (cores={cores})" if figures
            else f"in-process loop (run_replicate, cores={cores})")
    out = work / f"{key}.json"
    ran = run_watched(loop_command(s, cores, figures, work / f"{key}-sidecars", out), logs / key)
    if not out.is_file():
        return {"tool": tool, "error": f"exit {ran['rc']}: {ran['stderr_tail'][-500:]}"}
    d = json.loads(out.read_text())
    walls = [r["wall_seconds"] for r in d["replicates"]]
    sampler = sum(r["seconds"] for r in d["replicates"])
    figure_seconds = sum(r.get("figure_seconds", 0.0) for r in d["replicates"])
    return {
        "tool": tool, "key": key, "replicates": d["completed"],
        "failed": d["requested"] - d["completed"], "exit_code": ran["rc"],
        "wall_e2e": ran["wall"], "wall_steady": d["loop_seconds"],
        "steady_means": "the replicate loop (the first replicate's compile included); e2e adds Python "
                        "start-up, imports and model build",
        "sampler_seconds": sampler, "figures_seconds": figure_seconds,
        "figures_s_per_replicate": figure_seconds / max(d["completed"], 1),
        "overhead_pct": 100 * (sum(walls) - sampler - figure_seconds) / sum(walls),
        "replicate_wall_mean": statistics.mean(walls), "replicate_wall_first": walls[0],
        "replicate_wall_warm_mean": statistics.mean(walls[1:]) if len(walls) > 1 else None,
        "memory": memory_summary(ran["monitor"]), "import_seconds": d["import_seconds"],
        "ranks_file": d["ranks_file"], "inference": d["inference"],
    }
