"""2 SLURM jobs against 2 local workers, and what 100 workers would ask of the scheduler and client
(issue #19).

Starts a one-node SLURM cluster (scripts/slurm-local.sh, in a scratch folder, 2 CPUs), then runs
the same campaign twice with the real CLI, one after the other:

- ``sbc run --workers 2`` (the local cluster);
- ``sbc run --cluster slurm --jobs 2`` (two one-core jobs, one single-threaded worker each).

The campaign is the throughput benchmark's: hierarchical_centered on seed_design (5 x 10), nutpie,
draws 1000, tune 2000, 3 chains, target_accept 0.95, rank_draws 100 (``--quick``: draws and tune
100). For each run it prints the wall time, the time to the first worker, the warm rate (between
the second and the last replicate saved: each worker's cold first replicate left out), the CPU of
the ``sbc run`` process (the client, and the scheduler, which runs inside it for both clusters),
per warm replicate and per second (much of it is time-driven: heartbeats, polling; per replicate
it grows when replicates are slow, as on a loaded machine), and the bytes each replicate brings
back. From the SLURM run it computes the 100-worker case: tasks
per second reaching the scheduler, result bytes per second, and the client's CPU.

    .venv/bin/python benchmarks/slurm_scaling.py [--simulations 24] [--quick] [--keep]

Needs root the first time (apt-get installs SLURM and munge). Both runs must give identical ranks;
the script checks it.
"""

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import psutil

from sbc_helpers.contract import REPLICATE_SUFFIXES, UNIT_FILES

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "slurm-local.sh"
SBC = [sys.executable, "-m", "sbc_helpers.cli"]
MODEL_NAME = "centered"
DONE = re.compile(r"^(\S+ \S+) DEBUG \S+ replicate (\d+) ok in ([\d.]+) s")
FILES = tuple(REPLICATE_SUFFIXES.values())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def params(simulations: int, quick: bool) -> str:
    steps = 100 if quick else (1000, 2000)
    draws, tune = (steps, steps) if quick else steps
    return json.dumps({
        "name": "scaling", "seed": 1234, "replicates": simulations, "rank_draws": 100,
        "design": {"maker": "seed_design", "n_groups": 5, "n_points": 10, "seed": 1234},
        "inference": {"sampler": "nutpie", "draws": draws, "tune": tune, "chains": 3, "target_accept": 0.95},
        "timeout": 900, "retries": 1, "models": [{"name": MODEL_NAME, "model": "hierarchical_centered"}]})


def run(label: str, args: list, params_path: Path, out: Path, env: dict) -> dict:
    """One ``sbc run``: wall time, and the CPU of its own process sampled twice a second."""
    cmd = [*SBC, "run", str(params_path), *map(str, args), "--output-dir", str(out), "--no-report", "-v"]
    started, samples = time.time(), []
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    handle = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            cpu = handle.cpu_times()
            samples.append((time.time(), cpu.user + cpu.system))
        except psutil.Error:
            pass
        time.sleep(0.5)
    stderr = proc.stderr.read()
    wall = time.time() - started
    if proc.returncode != 0:
        sys.exit(f"{label}: sbc run exited {proc.returncode}:\n{stderr}")
    return {"label": label, "wall": wall, "samples": samples, "campaign": out / "scaling", "started": started}


def measure(result: dict) -> dict:
    """Warm-phase figures from the campaign's log (timestamps of each saved replicate)."""
    text = (result["campaign"] / "sbc.log").read_text()
    done = []
    for line in text.splitlines():
        if m := DONE.match(line):
            done.append((datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S,%f").timestamp(), float(m[3])))
    done.sort()
    first_worker = re.search(r"first worker after ([\d.]+) s", text)
    (t0, _), (t1, _) = done[1], done[-1]
    warm = len(done) - 2

    def cpu_at(t: float) -> float:
        before = [c for s, c in result["samples"] if s <= t]
        return before[-1] if before else 0.0

    reps = result["campaign"] / MODEL_NAME / "replicates"
    sizes = [sum((reps / f"{r.name.split('.')[0]}{suffix}").stat().st_size for suffix in FILES)
             for r in sorted(reps.glob("[0-9]*.json"))]
    return {
        "replicates": len(done), "wall": result["wall"],
        "first_worker": float(first_worker[1]) if first_worker else None,
        "first_saved": done[0][0] - result["started"],
        "warm_rate": warm / (t1 - t0),  # replicates per second, both workers
        "worker_seconds": statistics.median(s for _, s in done[2:]),  # one replicate, one worker, warm
        "client_cpu_total": result["samples"][-1][1],
        "client_cpu_warm": (cpu_at(t1) - cpu_at(t0)) / warm,  # client + scheduler CPU per replicate
        "client_cpu_per_s": (cpu_at(t1) - cpu_at(t0)) / (t1 - t0),  # the same per second: mostly polling
        "result_bytes": statistics.mean(sizes),
    }


def ranks(campaign: Path):
    import pandas as pd

    table = pd.read_parquet(campaign / MODEL_NAME / UNIT_FILES["ranks"])
    return table.sort_values(["replicate", "quantity"]).reset_index(drop=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--simulations", type=int, default=24)
    parser.add_argument("--quick", action="store_true", help="draws and tune 100")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--replicate-seconds", type=float, default=0.88,
                        help="a warm replicate's worker seconds for the second 100-worker calculation (default "
                             "0.88: 2 local workers on an idle machine, the docs' performance page)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="sbc-slurm-scaling-"))
    work.chmod(0o755)  # munged (user munge) must enter the cluster's folder
    env = {**os.environ, "SBC_SLURM_DIR": str(work / "slurm"), "SBC_SLURM_CPUS": "2",
           "SBC_SLURM_CTLD_PORT": str(free_port()), "SBC_SLURM_D_PORT": str(free_port()),
           "SLURM_CONF": str(work / "slurm" / "etc" / "slurm.conf"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    params_path = work / "scaling.yaml"
    params_path.write_text(params(args.simulations, args.quick))
    try:
        subprocess.run([SCRIPT, "start"], env=env, check=True)
        local = measure(run("2 local workers", ["--workers", 2], params_path, work / "local", env))
        slurm = measure(run("2 SLURM jobs", ["--cluster", "slurm", "--jobs", 2], params_path, work / "slurm-out", env))
        same = ranks(work / "local" / "scaling").equals(ranks(work / "slurm-out" / "scaling"))
    finally:
        subprocess.run([SCRIPT, "stop"], env=env, capture_output=True)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    load = os.getloadavg()
    print(f"\n{args.simulations} replicates, {'quick' if args.quick else 'seed'} settings; load average at the end "
          f"{load[0]:.1f} (other processes share the {os.cpu_count()} cores); ranks identical: {same}")
    print(f"{'':<18} {'wall s':>7} {'1st worker s':>12} {'1st saved s':>11} {'warm rep/s':>10} "
          f"{'worker s/rep':>12} {'client CPU s/rep':>16} {'client CPU s/s':>14} {'client CPU s':>12} "
          f"{'bytes/rep':>10}")
    for label, m in (("2 local workers", local), ("2 SLURM jobs", slurm)):
        first = f"{m['first_worker']:.1f}" if m["first_worker"] is not None else "-"
        print(f"{label:<18} {m['wall']:>7.1f} {first:>12} {m['first_saved']:>11.1f} {m['warm_rate']:>10.2f} "
              f"{m['worker_seconds']:>12.2f} {m['client_cpu_warm']:>16.4f} {m['client_cpu_per_s']:>14.3f} "
              f"{m['client_cpu_total']:>12.1f} "
              f"{m['result_bytes']:>10.0f}")
    print(f"SLURM / local: wall {slurm['wall'] / local['wall']:.2f}x, warm rate {slurm['warm_rate'] / local['warm_rate']:.2f}x")

    cpu = slurm["client_cpu_warm"]
    for per_worker, source in ((slurm["worker_seconds"], "this SLURM run's median"),
                               (args.replicate_seconds, "--replicate-seconds")):
        tasks = 100 / per_worker
        print(f"\n100 one-core workers at {per_worker:.2f} s per warm replicate ({source}):")
        print(f"  scheduler: {tasks:.0f} tasks/s (one task per replicate: submitted, run, result fetched)")
        print(f"  results: {tasks * slurm['result_bytes'] / 1e6:.1f} MB/s ({slurm['result_bytes'] / 1e6:.2f} MB each), "
              f"{slurm['result_bytes'] * 1000 / 1e6:.0f} MB of disk per 1000 replicates")
        print(f"  client (and scheduler) CPU: {cpu:.4f} s per replicate -> {tasks * cpu:.2f} cores at {tasks:.0f} "
              f"tasks/s; one client process saturates at {1 / cpu:.0f} replicates/s, i.e. {per_worker / cpu:.0f} "
              "workers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
