"""The hardware check: two in-process loops side by side, one core each, against one alone.
"""

import json
import statistics
import threading
from pathlib import Path

from benchmarks.throughput.monitor import run_watched
from benchmarks.throughput.rows.inprocess import loop_command


def hardware_scaling(s: dict, work: Path, logs: Path) -> dict:
    """Two in-process loops with the figures, one core each, side by side, against one alone: how
    much a second core gives with no orchestration at all, the ceiling for the scaling rows."""
    def loop(tag: str) -> list:
        out = work / f"hardware-{tag}.json"
        return [loop_command(s, 1, True, work / f"hardware-{tag}-sidecars", out), out, logs / f"hardware-{tag}"]

    def rate(out: Path) -> tuple[float, float]:
        d = json.loads(out.read_text())
        walls = [r["wall_seconds"] for r in d["replicates"]]
        return d["completed"] / d["loop_seconds"], statistics.mean(walls[1:])

    cmd, out, log = loop("alone")
    run_watched(cmd, log)
    if not out.is_file():
        return {"error": "the lone loop failed"}
    alone_rate, alone_warm = rate(out)
    pair = [loop("pair-a"), loop("pair-b")]
    threads = [threading.Thread(target=run_watched, args=(c, lg)) for c, _, lg in pair]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if not all(o.is_file() for _, o, _ in pair):
        return {"error": "a loop of the pair failed"}
    rates = [rate(o) for _, o, _ in pair]
    return {"alone_rate_per_s": alone_rate, "alone_warm_wall": alone_warm,
            "pair_rates_per_s": [r for r, _ in rates], "pair_warm_walls": [w for _, w in rates],
            "scaling": sum(r for r, _ in rates) / alone_rate,
            "scaling_warm": sum(1 / w for _, w in rates) / (1 / alone_warm)}
