"""Timing and monitoring: a row runs as a subprocess whose process tree is polled for memory,
CPU by kind of process and record arrivals.
"""

import os
import threading
import time
from pathlib import Path

import psutil

from benchmarks.throughput.common import GIB, REPO


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
