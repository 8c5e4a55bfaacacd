"""The campaign rows: ``sbc run`` (the real CLI, a subprocess) with 1 or 2 local workers, without
figures, or on a hand-started cluster; what a replicate's notebook costs, stage by stage.
"""

import json
import pickle
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.throughput.common import CAMPAIGN_SEED, DESIGN, MODEL, MODEL_NAME, RANK_DRAWS, REPO, STAGES, VENV_BIN
from benchmarks.throughput.monitor import memory_summary, run_watched
from benchmarks.throughput.rows.cluster import dask_cluster
from sbc_helpers.contract import REPLICATE_SUFFIXES, UNIT_FILES, replicate_path


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


# as the docs' recipe starts workers: Dask's statistical profiler off (see run/clusters/settings.py)


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
        path = replicate_path(replicates_dir.parent, int(rec["replicate"]), "notebook")
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
                call = next((ln.strip() for ln in src.splitlines() if "figures." in ln or "steps.fit_flags" in ln), src[:40])
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
            "wall_median": float(warm["wall_seconds"].median()), "fit_median": float(warm["seconds"].median()),
            "replicate_over_fit": float(warm["wall_seconds"].median() / warm["seconds"].median()),
            "overhead_pct": float(100 * (w_wall - w_sampler - w_fig) / w_wall),
            "stage_means": {f"t_{st}": float(warm[f"t_{st}"].mean()) for st in STAGES},
        }
        if len(cold):
            out["cold_kernel_extra_seconds"] = float(cold["wall_seconds"].mean() - warm["wall_seconds"].mean())
    if len(cold):
        out["first_replicate_seconds"] = float(cold["wall_seconds"].mean())
    return out


def output_sizes(campaign_dir: Path) -> dict:
    """Bytes per replicate of each file a campaign keeps, and the pickled payload a worker sends back."""
    import pandas as pd

    reps = Path(campaign_dir) / MODEL_NAME / "replicates"
    kinds = REPLICATE_SUFFIXES
    sizes = {k: [] for k in kinds}
    payload = []
    for record_path in sorted(reps.glob("[0-9]*.json")):
        stem = record_path.name.split(".")[0]
        files = {k: reps / f"{stem}{suffix}" for k, suffix in kinds.items()}
        if not files["page"].is_file():  # --no-report: no HTML page per replicate
            files.pop("page")
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

    from sbc_helpers.contract import Outcome, Record
    from sbc_helpers.run import store
    from sbc_helpers.run.params import load_campaign
    from sbc_helpers.run.tasks import plan, template_path

    campaign = load_campaign(params_path)
    tasks, _ = plan(campaign, work / "plan-empty", cores=1)
    task_bytes = len(pickle.dumps(tasks[0], protocol=5)) if tasks else 0
    reps = Path(campaign_dir) / MODEL_NAME / "replicates"
    first = sorted(reps.glob("[0-9]*.json"))[0]
    stem = first.name.split(".")[0]
    record = Record.model_validate(json.loads(first.read_text()))
    outcome = Outcome(record=record, notebook=(reps / f"{stem}{REPLICATE_SUFFIXES['notebook']}").read_text(),
                      ranks=pd.read_parquet(reps / f"{stem}{REPLICATE_SUFFIXES['ranks']}"),
                      draws=(reps / f"{stem}{REPLICATE_SUFFIXES['draws']}").read_bytes())
    target = work / "save-timing"
    times = []
    for i in range(5):
        outcome.record = record.model_copy(update={"replicate": i})
        start = time.perf_counter()
        store.save_replicate(target, outcome)
        times.append(time.perf_counter() - start)
    return {"task_bytes": task_bytes, "template_bytes": len(template_path().read_text()),
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


def compare_ranks(inprocess_ranks: str, campaign_dir: Path) -> dict | None:
    """Whether the in-process loop ranked the same values as the campaign (same seeds, same data)."""
    import pandas as pd

    try:
        a = pd.read_parquet(inprocess_ranks)
        b = pd.read_parquet(Path(campaign_dir) / MODEL_NAME / UNIT_FILES["ranks"])
    except (FileNotFoundError, OSError):
        return None
    keys = ["replicate", "quantity", "variable"] if "variable" in a else ["replicate", "quantity"]
    merged = a.merge(b, on=keys, suffixes=("_a", "_b"))
    equal = merged.groupby("replicate").apply(
        lambda g: bool((g["rank_a"] == g["rank_b"]).all()), include_groups=False)
    truth = merged.groupby("replicate").apply(
        lambda g: bool(((g["true_value_a"] - g["true_value_b"]).abs() < 1e-9).all()), include_groups=False)
    return {"compared": int(len(equal)), "equal": int(equal.sum()), "same_true_values": int(truth.sum())}
