"""Throughput benchmark (issue #6): an `sbc run` campaign against simuk and a plain in-process loop.

Run from the repository root with the project's environment:

    .venv/bin/python benchmarks/throughput.py                  # full: seed settings, 16 simulations
    .venv/bin/python benchmarks/throughput.py --simulations 64 # what the README quotes
    .venv/bin/python benchmarks/throughput.py --quick          # tiny settings, 4 simulations (smoke test)

Rows, side by side in one run, on the seed model (hierarchical_centered on seed_design 5 x 10) with
the same simulations, draws, tune, chains and target_accept:

  simuk        simuk 0.3 ``SBC.run_simulations`` in its own venv (benchmarks/.venv-simuk), nutpie,
               chains on all cores (benchmarks/simuk_driver.py)
  in-process   a plain loop of ``run_replicate`` + ``write_sidecars`` in one process, chains on all
               cores, log-likelihood ranked, no notebook, no figures (benchmarks/inprocess_loop.py)
  inprocess-figures  the same loop with the template's figures and summary table rendered as a
               notebook renders them: a replicate's whole work but the notebook (not a baseline of the
               issue; the "equal work" line sets the 2-worker campaign against it)
  sbc1w        ``sbc run`` (the real CLI, a subprocess) on its local cluster of 1 worker, whose
               replicates sample their chains on both cores
  sbc2w        ``sbc run`` with 2 workers (one per core: the default on a 2-core machine)
  sbc2w-noplots  the same with ``make_plots: false``: what the figures cost
  cluster1w    ``sbc run --scheduler`` on a ``dask scheduler`` + ``dask worker --nthreads 1`` started
  cluster2w    by hand (the README's scaling recipe), 1 and 2 workers: one core per replicate, so
               adding a worker adds a core; the scaling rows for a cluster

Every row runs as a subprocess whose process tree is polled for memory (RSS of each process and its
children, Dask workers and their Jupyter kernels together; the hand-started clusters' workers are
outside the tree, so the cluster rows report no worker memory). Prints a table and writes
benchmarks/results/throughput.json (throughput-quick.json with --quick). See benchmarks/README.md.
"""

import argparse
import json
import os
import pickle
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
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

TARGETS = {
    "campaign_vs_simuk": 2.0,
    "campaign_vs_inprocess": 1.2,
    "overhead_pct": 15.0,
    "figures_s_per_replicate": 0.5,
    "scaling_2w_over_1w": 1.8,
    "peak_worker_gib": 1.5,
    "replicate_output_mb": 1.0,
}


# --- watching a subprocess ------------------------------------------------------------------------


class Monitor:
    """Poll a process tree: peak RSS overall, per Dask worker (with its kernel), and record arrivals."""

    def __init__(self, pid: int, records_dir: Path | None = None, interval: float = 0.5):
        self.root = psutil.Process(pid)
        self.records_dir = records_dir
        self.interval = interval
        self.peak_tree = 0
        self.peak_root = 0
        self.peak_worker: dict[int, int] = {}  # worker pid -> peak RSS of the worker and its children
        self.peak_kernel: dict[int, int] = {}  # kernel pid -> peak RSS of the kernel (and its children)
        self.peak_worker_pss: dict[int, int] = {}  # worker pid -> peak PSS of the worker and its children (~1 s)
        self.arrivals: dict[str, float] = {}  # record file name -> first time seen
        self.cpu_kind: dict[int, str] = {}  # pid -> "root", "worker", "kernel" or "other"
        self.cpu_samples: dict[int, list[tuple[float, float]]] = {}  # pid -> [(time, user+system seconds)]
        self.first_worker_seen: float | None = None
        self.first_kernel_seen: float | None = None
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> "Monitor":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    @staticmethod
    def _rss(proc: psutil.Process) -> int:
        try:
            return proc.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            return 0

    @staticmethod
    def _cmdline(proc: psutil.Process) -> str:
        try:
            return " ".join(proc.cmdline())
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            return ""

    @staticmethod
    def _pss(proc: psutil.Process) -> int:
        try:
            return proc.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, AttributeError):
            return 0

    def _tree(self, proc: psutil.Process, measure) -> int:
        try:
            children = proc.children(recursive=True)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            children = []
        return measure(proc) + sum(measure(c) for c in children)

    def _tree_rss(self, proc: psutil.Process) -> int:
        return self._tree(proc, self._rss)

    def _count_cpu(self, proc: psutil.Process, kind: str, now: float) -> None:
        try:
            cpu = proc.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            return
        if kind == "kernel" or proc.pid not in self.cpu_kind:  # a kernel may be seen before its exec
            self.cpu_kind[proc.pid] = kind
        self.cpu_samples.setdefault(proc.pid, []).append((now, cpu.user + cpu.system))

    def cpu_by_kind(self, start: float, end: float) -> dict[str, float]:
        """CPU seconds each kind of process used between two perf_counter times (a process's last
        sample at or before each end; one born inside the window counts from its start)."""
        totals: dict[str, float] = {}
        for pid, samples in self.cpu_samples.items():
            at_end = [c for t, c in samples if t <= end]
            at_start = [c for t, c in samples if t <= start]
            if at_end:
                kind = self.cpu_kind[pid]
                totals[kind] = totals.get(kind, 0.0) + at_end[-1] - (at_start[-1] if at_start else 0.0)
        return totals

    def poll(self) -> None:
        now = time.perf_counter()
        try:
            children = self.root.children(recursive=True)
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            return
        self._count_cpu(self.root, "root", now)
        root_rss = self._rss(self.root)
        self.peak_root = max(self.peak_root, root_rss)
        self.peak_tree = max(self.peak_tree, root_rss + sum(self._rss(c) for c in children))
        for child in children:
            cmd = self._cmdline(child)
            kind = ("kernel" if "ipykernel_launcher" in cmd else
                    "worker" if "spawn_main" in cmd and "resource_tracker" not in cmd else "other")
            if cmd:
                self._count_cpu(child, kind, now)
            if kind == "worker":  # a Dask worker process
                self.peak_worker[child.pid] = max(self.peak_worker.get(child.pid, 0), self._tree_rss(child))
                if self.samples % 10 == 0:  # PSS (shared pages split between processes) is dearer to read
                    pss = self._tree(child, self._pss)
                    self.peak_worker_pss[child.pid] = max(self.peak_worker_pss.get(child.pid, 0), pss)
                self.first_worker_seen = self.first_worker_seen or now
            elif kind == "kernel":
                self.first_kernel_seen = self.first_kernel_seen or now
                self.peak_kernel[child.pid] = max(self.peak_kernel.get(child.pid, 0), self._tree_rss(child))
        if self.records_dir is not None and self.records_dir.is_dir():
            for path in self.records_dir.glob("*.json"):
                self.arrivals.setdefault(path.name, now)
        self.samples += 1

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.interval)

    def cpu_between(self, start: float, end: float) -> float | None:
        """CPU seconds the root process used between two perf_counter times (nearest samples)."""
        inside = [(t, c) for t, c in self.cpu_samples.get(self.root.pid, []) if start <= t <= end]
        if len(inside) < 2:
            return None
        return inside[-1][1] - inside[0][1]


def run_watched(cmd: list[str], log_stem: Path, records_dir: Path | None = None,
                cwd: Path = REPO, env: dict | None = None) -> dict:
    """Run ``cmd`` to completion while a Monitor polls it; stdout/stderr go to log files."""
    log_stem.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{log_stem}.stdout", "w") as out, open(f"{log_stem}.stderr", "w") as err:
        start = time.perf_counter()
        proc = psutil.Popen(cmd, cwd=cwd, stdout=out, stderr=err, env={**os.environ, **(env or {})})
        monitor = Monitor(proc.pid, records_dir).start()
        rc = proc.wait()
        end = time.perf_counter()
        monitor.stop()
    return {"rc": rc, "start": start, "end": end, "wall": end - start, "monitor": monitor,
            "stderr_tail": Path(f"{log_stem}.stderr").read_text()[-2000:]}


# --- environment ----------------------------------------------------------------------------------


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


def prime_compile_cache() -> float:
    """Compile the model once (untimed) so no row pays PyTensor's cold compile of the C code.

    The compile cache (~/.pytensor) is keyed by platform and Python version, not by venv, so the
    simuk venv (same PyTensor, same Python) shares it: every row starts from the same warm cache.
    """
    code = ("from sbc_helpers.models.references import make_design, resolve_model; "
            "from sbc_helpers.run.steps import run_replicate; "
            f"model = resolve_model({MODEL!r})(make_design({DESIGN!r})); "
            "run_replicate(model, 0, 0, {'method': 'nuts', 'sampler': 'nutpie', 'draws': 5, 'tune': 5, 'chains': 1}, "
            "rank_draws=5)")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True)
    return time.perf_counter() - start


# --- the rows -------------------------------------------------------------------------------------


def settings_args(s: dict, cores: int) -> list[str]:
    return ["--simulations", str(s["simulations"]), "--draws", str(s["draws"]), "--tune", str(s["tune"]),
            "--chains", str(s["chains"]), "--target-accept", str(s["target_accept"]), "--cores", str(cores)]


def memory_summary(monitor: Monitor) -> dict:
    return {
        "peak_tree_gib": monitor.peak_tree / GIB,
        "peak_root_gib": monitor.peak_root / GIB,
        "peak_worker_gib": max(monitor.peak_worker.values(), default=0) / GIB,
        "peak_kernel_gib": max(monitor.peak_kernel.values(), default=0) / GIB,
        "peak_worker_pss_gib": max(monitor.peak_worker_pss.values(), default=0) / GIB,
        "workers_seen": len(monitor.peak_worker),
        "kernels_seen": len(monitor.peak_kernel),
        "samples": monitor.samples,
    }


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


def campaign_params(name: str, s: dict, plots: bool = True) -> dict:
    """The campaign the benchmark runs: the seed's settings, product defaults for everything else
    (``plots=False``: the figures switched off, to show what they cost)."""
    return {
        "name": name, "seed": CAMPAIGN_SEED, "replicates": s["simulations"], "rank_draws": RANK_DRAWS,
        "design": dict(DESIGN),
        "inference": {"sampler": "nutpie", "draws": s["draws"], "tune": s["tune"], "chains": s["chains"],
                      "target_accept": s["target_accept"]},
        "timeout": 900, "retries": 1,
        "models": [{"name": MODEL_NAME, "model": MODEL}],
        **({} if plots else {"make_plots": False}),
        # left at the product's defaults: kernel_reuse 1000, make_plots true, log_likelihood true,
        # keep_draws 0 (= rank_draws), no derived quantities
    }


# as the README's recipe starts workers: Dask's statistical profiler off (see runner.dask_client)
WORKER_ENV = {"DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False"}


@contextmanager
def dask_cluster(workers: int, work: Path, logs: Path) -> Iterator[str]:
    """A ``dask scheduler`` and ``dask worker --nworkers N --nthreads 1`` started by hand, as the
    README's scaling section does: ``sbc run --scheduler`` then gives each replicate one core."""
    from distributed import Client

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    folder = work / f"cluster-{workers}w"
    folder.mkdir(parents=True, exist_ok=True)
    commands = [[str(VENV_BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                [str(VENV_BIN / "dask"), "worker", address, "--nworkers", str(workers), "--nthreads", "1",
                 "--no-dashboard", "--local-directory", str(folder)]]
    procs = []
    try:
        for i, cmd in enumerate(commands):
            with open(logs / f"cluster-{workers}w-{i}.log", "w") as out:
                procs.append(subprocess.Popen(cmd, cwd=folder, stdout=out, stderr=subprocess.STDOUT,
                                              start_new_session=True, env={**os.environ, **WORKER_ENV}))
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(workers, timeout=300)
        yield address
    finally:
        for proc in reversed(procs):
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def row_campaign(key: str, s: dict, work: Path, logs: Path) -> dict:
    """``sbc1w``/``sbc2w``: ``sbc run --workers N`` (its own local cluster; the chains of a replicate
    get cores // N cores); ``sbc2w-noplots``: the same without figures; ``cluster1w``/``cluster2w``:
    ``sbc run --scheduler`` on a cluster started by hand, one core per worker and replicate."""
    import pandas as pd
    import yaml

    workers = int(key.removesuffix("-noplots")[-2])
    plots = not key.endswith("-noplots")
    name = f"bench-{key}"
    params = work / f"{name}.yaml"
    params.write_text(yaml.safe_dump(campaign_params(name, s, plots), sort_keys=False))
    output = work / "outputs"
    model_dir = output / name / MODEL_NAME
    cmd = [str(VENV_BIN / "sbc"), "run", str(params), "--output-dir", str(output), "--no-report", "-q"]
    plural = "s" if workers > 1 else ""
    if key.startswith("cluster"):
        tool = f"sbc run --scheduler, {workers} worker{plural} x 1 core"
        with dask_cluster(workers, work, logs) as address:
            ran = run_watched([*cmd, "--scheduler", address], logs / name, records_dir=model_dir / "replicates")
    else:
        tool = f"sbc run, {workers} worker{plural}{', no figures' if not plots else ''}"
        ran = run_watched([*cmd, "--workers", str(workers)], logs / name, records_dir=model_dir / "replicates")
    table_path = model_dir / "replicates.parquet"
    if not table_path.is_file():
        return {"tool": tool, "error": f"exit {ran['rc']}: {ran['stderr_tail'][-500:]}"}
    table = pd.read_parquet(table_path)
    ok = table[table["status"] == "ok"]
    wall, sampler, figures = ok["wall_seconds"].sum(), ok["seconds"].sum(), ok["t_plots"].sum()
    stages = {f"t_{st}": float(ok[f"t_{st}"].sum()) for st in STAGES}
    outside_cells = float(wall - sum(stages.values()))
    # replicate phase: from the first replicate's start (its record's arrival minus its wall time)
    # to the last record written; leaves out start-up (imports, cluster) and the gather
    monitor = ran["monitor"]
    arrivals = {int(n.split(".")[0]): t for n, t in monitor.arrivals.items()}
    walls = dict(zip(ok["replicate"].astype(int), ok["wall_seconds"], strict=True))
    starts = [arrivals[r] - walls[r] for r in walls if r in arrivals]
    if starts:
        phase_start, phase_end = min(starts), max(arrivals.values())
        steady = phase_end - phase_start
        startup = phase_start - ran["start"]
        tail = ran["end"] - phase_end
        root_cpu = monitor.cpu_between(phase_start, phase_end)
        cpu_kinds = {k: v / len(ok) for k, v in monitor.cpu_by_kind(phase_start, phase_end).items()}
    else:
        steady = startup = tail = root_cpu = cpu_kinds = None
    # the root process (client, scheduler, nannies) while the workers compile and no task runs:
    # its background CPU rate, which grows with time and workers, not with replicates
    background = None
    if monitor.first_worker_seen and monitor.first_kernel_seen and monitor.first_kernel_seen - monitor.first_worker_seen > 4:
        quiet = monitor.cpu_between(monitor.first_worker_seen + 2, monitor.first_kernel_seen)
        if quiet is not None:
            background = quiet / (monitor.first_kernel_seen - monitor.first_worker_seen - 2)
    since = lambda t: None if t is None else t - ran["start"]  # noqa: E731
    breakdown = notebook_breakdown(model_dir / "replicates", ok, workers)
    return {
        "tool": tool, "key": key, "workers": workers, "replicates": int(len(ok)),
        "failed": int((table["status"] != "ok").sum()), "retried": int((table["attempts"] > 1).sum()) if "attempts" in table else 0,
        "exit_code": ran["rc"], "wall_e2e": ran["wall"], "wall_steady": steady,
        "steady_means": "first replicate start to last replicate saved; e2e adds Python start-up, "
                        "preflight, cluster start, the gather and shutdown",
        "startup_seconds": startup, "tail_seconds": tail,
        "first_worker_process_seen_seconds": since(monitor.first_worker_seen),
        "first_kernel_seen_seconds": since(monitor.first_kernel_seen),
        "sampler_seconds": float(sampler), "figures_seconds": float(figures), "worker_seconds": float(wall),
        "overhead_pct": float(100 * (wall - sampler - figures) / wall),
        "figures_s_per_replicate": float(figures / len(ok)),
        "replicate_wall_mean": float(ok["wall_seconds"].mean()),
        "replicate_wall_first_per_worker": [float(x) for x in ok.sort_values("replicate")["wall_seconds"].head(workers)],
        "stage_seconds": stages, "outside_cells_seconds": outside_cells,
        "fit_beyond_sampler_seconds": float(stages["t_fit"] - sampler),
        "divergent_replicates": int((ok["divergences"] > 0).sum()) if "divergences" in ok else None,
        "root_cpu_seconds_in_phase": root_cpu,
        "root_background_cpu_per_second": background,
        "cpu_seconds_per_replicate_by_process": cpu_kinds,
        **breakdown,
        "memory": memory_summary(monitor),
        "campaign_dir": str(output / name),
        "params": campaign_params(name, s, plots),
    }


def notebook_breakdown(replicates_dir: Path, ok, workers: int) -> dict:
    """Where a replicate's worker time goes beyond the stage columns, read from its notebook.

    around_papermill: wall_seconds minus the notebook's papermill duration (kernel acquisition and
    %reset, template and parameters, reading the side-car files back); papermill_bookkeeping: the
    notebook's duration minus the sum of its cell durations (kernel client start, the notebook
    saved after every cell, message round trips); unstaged_cells: cells without a stage tag
    (parameters, injected parameters, watermark). Kernels: the first replicate on each kernel pays
    the kernel's start, imports and first compile; those are the ``workers`` replicates with the
    largest t_imports, and "warm" figures leave them out.
    """
    per = []
    plot_cells: dict[str, list[float]] = {}
    for _, rec in ok.iterrows():
        path = replicates_dir / f"{int(rec['replicate']):04d}.ipynb"
        if not path.is_file():
            continue
        nb = json.loads(path.read_text())
        duration = float(nb.get("metadata", {}).get("papermill", {}).get("duration") or 0.0)
        cells = [c for c in nb["cells"] if c.get("cell_type") == "code"]
        seconds = [float(c.get("metadata", {}).get("papermill", {}).get("duration") or 0.0) for c in cells]
        unstaged = sum(d for c, d in zip(cells, seconds, strict=True)
                       if not set(c.get("metadata", {}).get("tags", [])) & set(STAGES))
        n_plot = 0
        for c, d in zip(cells, seconds, strict=True):
            if "plots" in c.get("metadata", {}).get("tags", []):
                src = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                call = next((ln.strip() for ln in src.splitlines() if "plots." in ln or "graphviz" in ln), src[:40])
                n_plot += 1
                plot_cells.setdefault(f"{n_plot}: {call[:60]}", []).append(d)
        per.append({"replicate": int(rec["replicate"]), "wall": float(rec["wall_seconds"]),
                    "around_papermill": float(rec["wall_seconds"]) - duration,
                    "papermill_bookkeeping": duration - sum(seconds), "unstaged_cells": unstaged,
                    "notebook_bytes": path.stat().st_size})
    if not per:
        return {}
    n = len(per)
    keys = ("around_papermill", "papermill_bookkeeping", "unstaged_cells")
    cold_ids = set(ok[ok["t_imports"] > 1.0].nlargest(workers, "t_imports")["replicate"].astype(int))
    warm = ok[~ok["replicate"].astype(int).isin(cold_ids)]
    cold = ok[ok["replicate"].astype(int).isin(cold_ids)]
    warm_per = [p for p in per if p["replicate"] not in cold_ids]
    out = {
        "outside_cells_split_s_per_replicate": {k: sum(p[k] for p in per) / n for k in keys},
        "outside_cells_split_warm_s_per_replicate": (
            {k: sum(p[k] for p in warm_per) / len(warm_per) for k in keys} if warm_per else None),
        "plot_cells_s_per_replicate": {k: statistics.mean(v) for k, v in plot_cells.items()},
        "cold_kernel_replicates": sorted(cold_ids),
    }
    if len(warm):
        w_wall, w_sampler, w_fig = warm["wall_seconds"].sum(), warm["seconds"].sum(), warm["t_plots"].sum()
        out["warm"] = {
            "replicates": int(len(warm)), "wall_mean": float(warm["wall_seconds"].mean()),
            "sampler_mean": float(warm["seconds"].mean()), "figures_mean": float(warm["t_plots"].mean()),
            "overhead_pct": float(100 * (w_wall - w_sampler - w_fig) / w_wall),
            "stage_means": {f"t_{st}": float(warm[f"t_{st}"].mean()) for st in STAGES},
        }
        if len(cold):
            out["cold_kernel_extra_seconds"] = float(cold["wall_seconds"].mean() - warm["wall_seconds"].mean())
    return out


# --- sizes, traffic and the 100-worker calculation --------------------------------------------------


def output_sizes(campaign_dir: Path) -> dict:
    """Bytes per replicate of each file a campaign keeps, and the pickled payload a worker sends back."""
    import pandas as pd

    reps = Path(campaign_dir) / MODEL_NAME / "replicates"
    kinds = {"notebook": ".ipynb", "ranks": ".ranks.parquet", "draws": ".draws.nc", "record": ".json"}
    sizes = {k: [] for k in kinds}
    payload = []
    for record_path in sorted(reps.glob("[0-9]*.json")):
        stem = record_path.name.split(".")[0]
        files = {k: reps / f"{stem}{suffix}" for k, suffix in kinds.items()}
        if not all(p.is_file() for p in files.values()):
            continue
        for k, p in files.items():
            sizes[k].append(p.stat().st_size)
        # what execute_replicate returns (Dask pickles it): notebook text, ranks frame, draws bytes, record
        outcome = {"record": json.loads(files["record"].read_text()), "notebook": files["notebook"].read_text(),
                   "ranks": pd.read_parquet(files["ranks"]), "draws": files["draws"].read_bytes()}
        payload.append(len(pickle.dumps(outcome, protocol=5)))
    mean = {k: statistics.mean(v) if v else 0 for k, v in sizes.items()}
    return {
        "replicates_measured": len(payload),
        "mean_bytes": mean,
        "max_bytes": {k: max(v, default=0) for k, v in sizes.items()},
        "notebook_plus_rows_bytes": mean["notebook"] + mean["ranks"] + mean["record"],
        "notebook_plus_rows_max_bytes": max((a + b + c for a, b, c in zip(sizes["notebook"], sizes["ranks"],
                                                                          sizes["record"], strict=True)), default=0),
        "all_files_bytes": sum(mean.values()),
        "result_traffic_bytes": mean["notebook"] + mean["ranks"] + mean["draws"],
        "pickled_result_bytes": statistics.mean(payload) if payload else 0,
    }


def client_costs(campaign_dir: Path, params_path: Path, work: Path) -> dict:
    """Task size sent to a worker, and the client's time to save one replicate (4 fsync'd files)."""
    import pandas as pd

    from sbc_helpers.run import runner, store
    from sbc_helpers.run.params import load_campaign

    campaign = load_campaign(params_path)
    tasks, _ = runner.plan(campaign, work / "plan-empty", cores=1)
    task_bytes = len(pickle.dumps(tasks[0], protocol=5)) if tasks else 0
    reps = Path(campaign_dir) / MODEL_NAME / "replicates"
    first = sorted(reps.glob("[0-9]*.json"))[0]
    stem = first.name.split(".")[0]
    outcome = {"record": json.loads(first.read_text()), "notebook": (reps / f"{stem}.ipynb").read_text(),
               "ranks": pd.read_parquet(reps / f"{stem}.ranks.parquet"),
               "draws": (reps / f"{stem}.draws.nc").read_bytes()}
    target = work / "save-timing"
    times = []
    for i in range(5):
        outcome["record"] = {**outcome["record"], "replicate": i}
        start = time.perf_counter()
        store.save_replicate(target, MODEL_NAME, outcome)
        times.append(time.perf_counter() - start)
    return {"task_bytes": task_bytes, "template_bytes": len(runner.TEMPLATE.read_text()),
            "save_replicate_seconds": statistics.median(times)}


FIXED_COSTS = r"""
import json, shutil, statistics, tempfile, time
import nbformat, papermill as pm
from sbc_helpers.run.kernels import WarmKernel
kernel = WarmKernel("python3", 1000)
scratch = tempfile.mkdtemp(prefix="sbc-bench-kernel-")
start = time.perf_counter(); kernel.acquire(scratch); kernel.uses = 0; first = time.perf_counter() - start
nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
                                     nbformat.v4.new_code_cell("y = x + 1"), nbformat.v4.new_code_cell("y")])
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
nbformat.write(nb, f"{scratch}/in.ipynb")
run = []
for i in range(6):
    km, reset = kernel.acquire(scratch)
    start = time.perf_counter()
    pm.execute_notebook(f"{scratch}/in.ipynb", f"{scratch}/out.ipynb", parameters={"x": i}, kernel_name="python3",
                        progress_bar=False, engine_name="warm", km=km, reset=reset)
    run.append(time.perf_counter() - start)
kernel.discard()
shutil.rmtree(scratch, ignore_errors=True)
print(json.dumps({"kernel_first_acquire_seconds": first,
                  "papermill_3_cell_notebook_seconds": statistics.median(run[1:])}))
"""


def fixed_costs() -> dict:
    """Per-notebook costs of the machinery alone, on a warm kernel with nothing imported in it."""
    done = subprocess.run([sys.executable, "-c", FIXED_COSTS], cwd=REPO, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        return {"error": done.stderr[-500:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def hundred_workers(rows: dict, sizes: dict, costs: dict) -> dict:
    """What 100 workers (one core each) would ask of the scheduler, the client and the disk."""
    two = rows.get("sbc2w") or rows.get("sbc1w")
    if not two or "error" in two:
        return {}
    warm = two.get("warm")
    # steady state: a worker's wall time per replicate on a warm kernel (1 core per worker when
    # measured with 2 workers); each kernel's first replicate costs cold_extra once per worker
    per_rep = warm["wall_mean"] if warm else two["replicate_wall_mean"]
    cold_extra = two.get("cold_kernel_extra_seconds") or 0.0
    workers = 100
    rate = workers / per_rep  # replicates (= tasks) finished per second
    n, phase = two["replicates"], two.get("wall_steady")
    root_cpu, background = two.get("root_cpu_seconds_in_phase"), two.get("root_background_cpu_per_second")
    cpu_per_rep = cpu_per_rep_net = None
    if root_cpu is not None and n:
        cpu_per_rep = root_cpu / n
        if background is not None and phase:
            cpu_per_rep_net = max(0.0, (root_cpu - background * phase) / n)
    bg_per_worker = background / two.get("workers", 2) if background is not None else None
    core_fraction = None
    if cpu_per_rep_net is not None and bg_per_worker is not None:
        core_fraction = cpu_per_rep_net * rate + bg_per_worker * workers
    elif cpu_per_rep is not None:  # start-up too short to see the background alone: charge it all per replicate
        core_fraction = cpu_per_rep * rate
    startup = two.get("startup_seconds") or 0.0
    campaign = 1000
    return {
        "assumptions": "100 workers with one core each; a replicate takes the warm-kernel worker wall time "
                       "measured with 2 local workers (1 core each); one task per replicate; no retries",
        "replicate_wall_seconds": per_rep,
        "tasks_per_second": rate,
        "scheduler_note": "a Dask scheduler handles thousands of tasks per second (well under 1 ms of scheduler "
                          "CPU per task); this campaign needs tasks_per_second of that",
        "root_cpu_seconds_per_replicate_raw": cpu_per_rep,
        "root_cpu_seconds_per_replicate_net_of_background": cpu_per_rep_net,
        "root_background_cpu_per_worker": bg_per_worker,
        "client_scheduler_core_fraction_at_100": core_fraction,
        "client_scheduler_note": "per-replicate CPU of the client+scheduler process (receiving, unpickling and saving "
                                 "a result) x tasks/s, plus its background CPU (heartbeats; here also the nannies, "
                                 "which a remote cluster runs elsewhere) per worker x 100: pessimistic",
        "task_bytes": costs["task_bytes"],
        "task_traffic_bytes_per_second": costs["task_bytes"] * rate,
        "result_bytes_per_replicate": sizes["result_traffic_bytes"],
        "pickled_result_bytes_per_replicate": sizes["pickled_result_bytes"],
        "result_traffic_bytes_per_second": sizes["pickled_result_bytes"] * rate,
        "client_save_seconds_per_replicate": costs["save_replicate_seconds"],
        "client_save_busy_fraction": costs["save_replicate_seconds"] * rate,
        "disk_bytes_per_replicate": sizes["all_files_bytes"],
        "disk_bytes_per_1000_replicates": sizes["all_files_bytes"] * 1000,
        "campaign_1000_replicates_seconds": startup + cold_extra + -(-campaign // workers) * per_rep,
        "campaign_1000_replicates_note": "local start-up (cluster) + one cold kernel + ceil(1000/100) "
                                         "rounds of a warm replicate; a remote cluster's start-up is its own",
    }


# --- the report -----------------------------------------------------------------------------------


def per_minute(n: int, seconds: float | None) -> float | None:
    return 60 * n / seconds if seconds else None


def fmt(value, spec: str = ".1f", none: str = "-") -> str:
    return none if value is None else format(value, spec)


def table(rows: list[dict], simuk_rate: float | None, inproc_rate: float | None) -> str:
    head = (f"{'tool':<50} {'reps':>4} {'wall s':>8} {'rep/min':>8} {'x simuk':>8} {'x in-proc':>9} "
            f"{'overhead':>8} | {'wall s*':>8} {'rep/min*':>8} {'x simuk*':>8} {'x in-proc*':>10}")
    lines = [head, "-" * len(head)]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['tool']:<50} failed: {r['error'][:90]}")
            continue
        e2e, steady = r["rate_e2e"], r["rate_steady"]
        lines.append(
            f"{r['tool']:<50} {r['replicates']:>4} {fmt(r['wall_e2e']):>8} {fmt(e2e, '.2f'):>8} "
            f"{fmt(e2e / simuk_rate if simuk_rate else None, '.2f'):>8} "
            f"{fmt(e2e / inproc_rate if inproc_rate else None, '.2f'):>9} "
            f"{fmt(r['overhead_pct'], '.1f') + '%':>8} | {fmt(r['wall_steady']):>8} {fmt(steady, '.2f'):>8} "
            f"{fmt(steady / simuk_rate if simuk_rate and steady else None, '.2f'):>8} "
            f"{fmt(steady / inproc_rate if inproc_rate and steady else None, '.2f'):>10}")
    return "\n".join(lines)


def verdicts(rows: dict, sizes: dict | None) -> list[dict]:
    """Each target of issue #6 with the measured value (None when a row is missing)."""
    simuk, inproc, one, two = (rows.get(k) for k in ("simuk", "inprocess", "sbc1w", "sbc2w"))
    good = lambda r: r is not None and "error" not in r  # noqa: E731
    out = []

    def add(name, value, target, ok_when):
        out.append({"target": name, "value": value, "threshold": target,
                    "met": None if value is None else bool(ok_when(value, target))})

    simuk_rate = simuk["rate_steady"] if good(simuk) else None
    inproc_rate = inproc["rate_steady"] if good(inproc) else None
    if good(two):
        add("sbc run (2 workers, end to end) / simuk run_simulations", two["rate_e2e"] / simuk_rate if simuk_rate else None,
            TARGETS["campaign_vs_simuk"], lambda v, t: v >= t)
        add("sbc run (2 workers, end to end) / in-process loop", two["rate_e2e"] / inproc_rate if inproc_rate else None,
            TARGETS["campaign_vs_inprocess"], lambda v, t: v >= t)
        add("overhead % of worker time (2 workers)", two["overhead_pct"], TARGETS["overhead_pct"], lambda v, t: v <= t)
        add("figures s per replicate (2 workers)", two["figures_s_per_replicate"], TARGETS["figures_s_per_replicate"],
            lambda v, t: v <= t)
    if good(one) and good(two):
        add("scaling: 2 workers / 1 worker, sbc run --workers (1 worker samples on both cores; end to end)",
            two["rate_e2e"] / one["rate_e2e"], TARGETS["scaling_2w_over_1w"], lambda v, t: v >= t)
    c1, c2 = rows.get("cluster1w"), rows.get("cluster2w")
    if good(c1) and good(c2):
        add("scaling: 2 workers / 1 worker, one core each, --scheduler (end to end)",
            c2["rate_e2e"] / c1["rate_e2e"], TARGETS["scaling_2w_over_1w"], lambda v, t: v >= t)
    peaks = [r["memory"]["peak_worker_gib"] for r in (one, two) if good(r)]
    add("peak RSS per worker incl. its kernel, GiB", max(peaks) if peaks else None, TARGETS["peak_worker_gib"],
        lambda v, t: v < t)
    if sizes:
        add("replicate outputs (notebook + ranks + record), MB", sizes["notebook_plus_rows_max_bytes"] / 1e6,
            TARGETS["replicate_output_mb"], lambda v, t: v < t)
    return out


def compare_equal_work(rows: dict) -> dict | None:
    """The 2-worker campaign against the loop that draws the same figures: what the notebook itself
    costs, apart from the work it holds. Not one of the issue's targets."""
    loop, two = rows.get("inprocess-figures"), rows.get("sbc2w")
    if not loop or not two or "error" in loop or "error" in two or not two.get("warm"):
        return None
    campaign_wall = two["warm"]["wall_mean"] / two["workers"]  # two workers finish a replicate each per wall_mean
    return {"end_to_end": two["rate_e2e"] / loop["rate_e2e"],
            "warm_inprocess_wall": loop["replicate_wall_warm_mean"],
            "warm_campaign_wall_per_replicate": campaign_wall,
            "warm": loop["replicate_wall_warm_mean"] / campaign_wall}


def main() -> int:
    parser = argparse.ArgumentParser(description="Throughput of an sbc campaign against simuk and an in-process loop.")
    parser.add_argument("--simulations", type=int, help="simulations per row (default 16; 4 with --quick)")
    parser.add_argument("--quick", action="store_true", help="tiny settings (draws 100, tune 100, 4 simulations)")
    parser.add_argument("--rows", default=",".join(BASELINE_ROWS + CAMPAIGN_ROWS + ("hardware",)),
                        help="comma-separated subset of the rows (hardware: the two-loop scaling check)")
    parser.add_argument("--json", type=Path, help="result file (default benchmarks/results/throughput[-quick].json)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary campaign outputs")
    args = parser.parse_args()

    settings = dict(QUICK if args.quick else FULL)
    if args.simulations:
        settings["simulations"] = args.simulations
    cores = os.cpu_count() or 1
    wanted = [r.strip() for r in args.rows.split(",") if r.strip()]
    results_dir = HERE / "results"
    json_path = args.json or results_dir / ("throughput-quick.json" if args.quick else "throughput.json")
    logs = results_dir / ("logs-quick" if args.quick else "logs")
    work = Path(tempfile.mkdtemp(prefix="sbc-bench-"))

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    log(f"settings: {settings}, {cores} cores, load average {os.getloadavg()}, scratch {work}")
    notes = []
    if "simuk" in wanted:
        ok, how = ensure_simuk_venv(log)
        if not ok:
            notes.append(f"simuk row skipped: {how}")
            wanted.remove("simuk")
            log(notes[-1])
    log(f"priming the PyTensor compile cache (untimed): {prime_compile_cache():.1f} s")

    rows: dict[str, dict] = {}
    hardware = None
    try:
        if "hardware" in wanted:
            wanted.remove("hardware")
            log("hardware scaling check: one in-process loop on one core, then two side by side")
            hardware = hardware_scaling(settings, work, logs)
        for key in wanted:
            load_before = os.getloadavg()
            # what else uses the cores just before the row (the 1-minute load average still counts
            # the previous row's own processes for minutes after they end)
            busy_before = psutil.cpu_percent(interval=2.0)
            log(f"row {key}: running")
            if key == "simuk":
                row = row_simuk(settings, cores, work, logs)
            elif key in ("inprocess", "inprocess-figures"):
                row = row_inprocess(settings, cores, work, logs, figures=key == "inprocess-figures")
            elif key in CAMPAIGN_ROWS:
                row = row_campaign(key, settings, work, logs)
            else:
                raise SystemExit(f"unknown row {key!r}")
            row["load_average_before"], row["load_average_after"] = load_before, os.getloadavg()
            row["cpu_busy_pct_before"] = busy_before
            if "error" not in row:
                row["rate_e2e"] = per_minute(row["replicates"], row["wall_e2e"])
                row["rate_steady"] = per_minute(row["replicates"], row["wall_steady"])
                log(f"row {key}: {row['replicates']} replicates, {row['wall_e2e']:.1f} s end to end, "
                    f"{fmt(row['wall_steady'])} s replicate phase, overhead {row['overhead_pct']:.1f}%, "
                    f"CPU {busy_before:.0f}% busy before, load average {load_before[0]:.1f} before, {row['load_average_after'][0]:.1f} after")
            else:
                log(f"row {key}: FAILED {row['error'][:300]}")
            rows[key] = row

        campaign_rows = [rows[k] for k in ("sbc2w", "sbc1w") if k in rows and "error" not in rows[k]]
        sizes = costs = calc = None
        same_work = None
        if campaign_rows:
            main_row = campaign_rows[0]
            sizes = output_sizes(Path(main_row["campaign_dir"]))
            params_path = work / f"bench-{main_row['key']}.yaml"
            costs = client_costs(Path(main_row["campaign_dir"]), params_path, work)
            log("measuring per-notebook fixed costs (kernel acquire, papermill on a 3-cell notebook)")
            costs["fixed"] = fixed_costs()
            calc = hundred_workers(rows, sizes, costs)
            if "inprocess" in rows and "error" not in rows["inprocess"]:
                same_work = compare_ranks(rows["inprocess"]["ranks_file"], Path(main_row["campaign_dir"]))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    simuk_rate = rows["simuk"]["rate_steady"] if "simuk" in rows and "error" not in rows["simuk"] else None
    inproc_rate = rows["inprocess"]["rate_steady"] if "inprocess" in rows and "error" not in rows["inprocess"] else None
    ordered = [rows[k] for k in (*BASELINE_ROWS, *CAMPAIGN_ROWS) if k in rows]
    checks = verdicts(rows, sizes)
    equal_work = compare_equal_work(rows)
    scaling = {}
    for label, (k1, k2) in {"sbc run --workers": ("sbc1w", "sbc2w"),
                            "--scheduler, one core per worker": ("cluster1w", "cluster2w")}.items():
        one, two = rows.get(k1), rows.get(k2)
        if one and two and "error" not in one and "error" not in two:
            warm = (two["workers"] / two["warm"]["wall_mean"]) / (one["workers"] / one["warm"]["wall_mean"]) \
                if one.get("warm") and two.get("warm") else None
            scaling[label] = {"end_to_end": two["rate_e2e"] / one["rate_e2e"],
                              "replicate_phase": (two["rate_steady"] / one["rate_steady"]
                                                  if two["rate_steady"] and one["rate_steady"] else None),
                              "warm_kernels": warm}

    print()
    print(f"Throughput on {MODEL} ({DESIGN['n_groups']} x {DESIGN['n_points']}), draws {settings['draws']}, "
          f"tune {settings['tune']}, chains {settings['chains']}, target_accept {settings['target_accept']}, "
          f"{settings['simulations']} simulations, {cores} cores{' (--quick: indicative only)' if args.quick else ''}")
    print(table(ordered, simuk_rate, inproc_rate))
    print("  wall s / rep/min: end to end (process start to exit, campaign start-up included).")
    print("  * replicate phase only: simuk = run_simulations(); in-process = the loop; sbc = first replicate")
    print("    start to last replicate saved (no imports, cluster start or gather).")
    print("  x simuk, x in-proc: this row's rate / simuk's run_simulations rate / the in-process loop's rate")
    print("    (both baselines without their start-up: the conservative comparison).")
    print("  overhead: worker time outside the sampler and the figures, % of worker time.")
    print()
    for key in CAMPAIGN_ROWS:
        r = rows.get(key)
        if r and "error" not in r:
            st = r["stage_seconds"]
            n = r["replicates"]
            print(f"{r['tool']}: start-up {fmt(r['startup_seconds'])} s, figures {r['figures_s_per_replicate']:.2f} "
                  f"s/replicate, worker wall {r['replicate_wall_mean']:.2f} s/replicate "
                  f"(sampler {r['sampler_seconds'] / n:.2f}), peak RSS per worker+kernel "
                  f"{r['memory']['peak_worker_gib']:.2f} GiB (kernel {r['memory']['peak_kernel_gib']:.2f}; PSS "
                  f"{r['memory']['peak_worker_pss_gib']:.2f}), "
                  f"failed {r['failed']}")
            parts = ", ".join(f"{k[2:]} {v / n:.2f}" for k, v in st.items())
            print(f"  per replicate, s: {parts}; outside cells {r['outside_cells_seconds'] / n:.2f}; "
                  f"fit beyond sampler {r['fit_beyond_sampler_seconds'] / n:.2f}; first replicate per worker "
                  f"{', '.join(f'{x:.1f}' for x in r['replicate_wall_first_per_worker'])}")
            print(f"  start-up: worker processes up at {fmt(r['first_worker_process_seen_seconds'])} s, first kernel "
                  f"at {fmt(r['first_kernel_seen_seconds'])} s, first replicate "
                  f"started at {fmt(r['startup_seconds'])} s")
            split = r.get("outside_cells_split_s_per_replicate")
            if split:
                print("  outside cells, s/replicate: " + ", ".join(f"{k} {v:.2f}" for k, v in split.items()))
                warm_split = r.get("outside_cells_split_warm_s_per_replicate")
                if warm_split:
                    print("  outside cells, warm kernels, s/replicate: "
                          + ", ".join(f"{k} {v:.2f}" for k, v in warm_split.items()))
                print("  figure cells, s/replicate: " + "; ".join(
                    f"{k} {v:.2f}" for k, v in r["plot_cells_s_per_replicate"].items()))
            warm = r.get("warm")
            if warm:
                print(f"  warm kernels only ({warm['replicates']} replicates, leaving out each kernel's first): "
                      f"wall {warm['wall_mean']:.2f} s, sampler {warm['sampler_mean']:.2f}, figures "
                      f"{warm['figures_mean']:.2f}, overhead {warm['overhead_pct']:.1f}%; a cold kernel's first "
                      f"replicate costs {fmt(r.get('cold_kernel_extra_seconds'))} s more")
            kinds = r.get("cpu_seconds_per_replicate_by_process")
            if kinds and kinds.get("worker"):  # the hand-started clusters' workers are outside the tree
                print("  CPU s/replicate in the replicate phase, by process: "
                      + ", ".join(f"{CPU_KINDS.get(k, k)} {v:.3f}" for k, v in kinds.items()))
    for key in BASELINE_ROWS:
        r = rows.get(key)
        if r and "error" not in r:
            print(f"{r['tool']}: peak RSS {r['memory']['peak_tree_gib']:.2f} GiB, sampler "
                  f"{r['sampler_seconds'] / max(r['replicates'], 1):.2f} s/replicate"
                  + (f", figures {r['figures_s_per_replicate']:.2f} s/replicate" if r.get("figures_seconds") else "")
                  + (f", warm replicate wall {r['replicate_wall_warm_mean']:.2f} s" if r.get("replicate_wall_warm_mean") else "")
                  + (f", versions {r['versions']}" if key == "simuk" else ""))
    if hardware and "error" not in hardware:
        print(f"hardware scaling check: two in-process loops with the figures, one core each, side by side: "
              f"{hardware['scaling']:.2f}x one alone ({hardware['scaling_warm']:.2f}x on warm replicates: "
              f"{hardware['alone_warm_wall']:.2f} s alone, "
              + " and ".join(f"{w:.2f}" for w in hardware["pair_warm_walls"]) + " s side by side)")
    elif hardware:
        print(f"hardware scaling check failed: {hardware['error']}")
    if equal_work:
        print(f"equal work (not a target): sbc run, 2 workers / in-process loop with the same figures: "
              f"{equal_work['end_to_end']:.2f} end to end; warm, per replicate: {equal_work['warm_inprocess_wall']:.2f} s "
              f"in the loop, {equal_work['warm_campaign_wall_per_replicate']:.2f} s of campaign wall (2 workers), "
              f"{equal_work['warm']:.2f}x")
    for label, ratio in scaling.items():
        print(f"scaling 2 workers / 1 worker ({label}): {ratio['end_to_end']:.2f} end to end, "
              f"{fmt(ratio['replicate_phase'], '.2f')} replicate phase, {fmt(ratio['warm_kernels'], '.2f')} on warm "
              "kernels (workers / warm wall per replicate: the long-campaign limit, start-up and cold compiles left out)")
    if sizes:
        mb = sizes["mean_bytes"]
        print(f"bytes per replicate: notebook {mb['notebook']:.0f}, ranks {mb['ranks']:.0f}, draws.nc "
              f"{mb['draws']:.0f}, record {mb['record']:.0f}; notebook+rows max "
              f"{sizes['notebook_plus_rows_max_bytes']:.0f}; pickled result {sizes['pickled_result_bytes']:.0f}")
    if calc:
        print(f"100 workers: {calc['tasks_per_second']:.1f} tasks/s to the scheduler; task {calc['task_bytes']} B "
              f"({calc['task_traffic_bytes_per_second'] / 1e3:.0f} kB/s out); results "
              f"{calc['result_traffic_bytes_per_second'] / 1e6:.2f} MB/s in; client+scheduler CPU "
              f"{fmt(calc['client_scheduler_core_fraction_at_100'], '.2f')} of a core (per replicate "
              f"{fmt(calc['root_cpu_seconds_per_replicate_net_of_background'] or calc['root_cpu_seconds_per_replicate_raw'], '.3f')} s); client saving busy "
              f"{calc['client_save_busy_fraction']:.2f} of its time; disk {calc['disk_bytes_per_1000_replicates'] / 1e6:.0f} "
              f"MB per 1000 replicates; 1000 replicates in {calc['campaign_1000_replicates_seconds']:.0f} s")
    if costs and costs.get("fixed") and "error" not in costs["fixed"]:
        f = costs["fixed"]
        print(f"fixed costs per notebook (warm kernel, nothing imported): kernel start "
              f"{f['kernel_first_acquire_seconds']:.2f} s, once per kernel; reset + papermill run of a "
              f"3-cell notebook {f['papermill_3_cell_notebook_seconds']:.2f} s")
    if same_work is not None:
        print(f"same work check: in-process ranks equal the campaign's for {same_work['equal']} of "
              f"{same_work['compared']} replicates")
    print()
    print("targets (issue #6)" + (" -- --quick settings, not the targets' settings" if args.quick else "") + ":")
    for c in checks:
        mark = "n/a" if c["met"] is None else ("met" if c["met"] else "MISSED")
        print(f"  {mark:>6}  {c['target']}: {fmt(c['value'], '.2f')} (target {c['threshold']})")
    busy = {k: r["cpu_busy_pct_before"] for k, r in rows.items() if r.get("cpu_busy_pct_before") is not None}
    if any(v > 20 for v in busy.values()):
        notes.append("the machine was busy (CPU use over the 2 s before each row: "
                     + ", ".join(f"{k} {v:.0f}%" for k, v in busy.items())
                     + f" of {cores} cores): rows compete with other work, compare them with care")
    for note in notes:
        print(f"  note: {note}")

    json_path.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "issue": 6, "mode": "quick" if args.quick else "full", "settings": settings, "rank_draws": RANK_DRAWS,
        "model": MODEL, "design": DESIGN, "cores": cores, "platform": platform.platform(),
        "python": sys.version.split()[0], "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "table": [{k: r.get(k) for k in ("tool", "replicates", "wall_e2e", "rate_e2e", "wall_steady", "rate_steady",
                                         "overhead_pct", "error")}
                  | {"ratio_to_simuk_e2e": (r["rate_e2e"] / simuk_rate) if simuk_rate and "error" not in r else None,
                     "ratio_to_simuk_steady": (r["rate_steady"] / simuk_rate)
                     if simuk_rate and "error" not in r and r.get("rate_steady") else None,
                     "ratio_to_inprocess_e2e": (r["rate_e2e"] / inproc_rate) if inproc_rate and "error" not in r else None}
                  for r in ordered],
        "rows": {k: {kk: vv for kk, vv in r.items() if kk not in ("ranks_file", "campaign_dir")} for k, r in rows.items()},
        "figures_s_per_replicate": {k: rows[k]["figures_s_per_replicate"] for k in CAMPAIGN_ROWS
                                    if k in rows and "error" not in rows[k]},
        "scaling": scaling,
        "peak_memory_gib": {k: r["memory"] for k, r in rows.items() if "error" not in r},
        "output_bytes_per_replicate": sizes,
        "client_costs": costs,
        "hundred_workers": calc,
        "same_work": same_work,
        "equal_work": equal_work,
        "hardware_scaling": hardware,
        "targets": checks,
        "notes": notes,
    }
    json_path.write_text(json.dumps(report, indent=1, default=str))
    print(f"\nwrote {json_path.relative_to(REPO) if json_path.is_relative_to(REPO) else json_path}")
    return 0 if all("error" not in r for r in rows.values()) else 1


def compare_ranks(inprocess_ranks: str, campaign_dir: Path) -> dict | None:
    """Whether the in-process loop ranked the same values as the campaign (same seeds, same data)."""
    import pandas as pd

    try:
        a = pd.read_parquet(inprocess_ranks)
        b = pd.read_parquet(Path(campaign_dir) / MODEL_NAME / "ranks.parquet")
    except (FileNotFoundError, OSError):
        return None
    keys = ["replicate", "quantity", "variable"] if "variable" in a else ["replicate", "quantity"]
    merged = a.merge(b, on=keys, suffixes=("_a", "_b"))
    equal = merged.groupby("replicate").apply(
        lambda g: bool((g["rank_a"] == g["rank_b"]).all()), include_groups=False)
    truth = merged.groupby("replicate").apply(
        lambda g: bool(((g["true_value_a"] - g["true_value_b"]).abs() < 1e-9).all()), include_groups=False)
    return {"compared": int(len(equal)), "equal": int(equal.sum()), "same_true_values": int(truth.sum())}


if __name__ == "__main__":
    sys.exit(main())
