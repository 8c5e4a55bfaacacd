"""Throughput benchmark (issues #6 and #20): an `sbc run` campaign against simuk and a plain in-process loop.

Run from the repository root with the project's environment:

    .venv/bin/python -m benchmarks.throughput                  # full: seed settings, 16 simulations
    .venv/bin/python -m benchmarks.throughput --simulations 64 # what the docs' performance page quotes
    .venv/bin/python -m benchmarks.throughput --quick          # tiny settings, 4 simulations (smoke test)

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
  cluster2w    by hand (the docs' scaling recipe), 1 and 2 workers: one core per replicate, so
               adding a worker adds a core; the scaling rows for a cluster

Every row runs as a subprocess whose process tree is polled for memory (RSS of each process and its
children, Dask workers and their Jupyter kernels together; the hand-started clusters' workers are
outside the tree, so the cluster rows report no worker memory). Prints a table and writes
benchmarks/results/throughput.json (throughput-quick.json with --quick). See benchmarks/README.md.

This module is the runner: it parses the command line, runs the rows one after another and
prints and writes the results (rows/: one module per row; monitor.py: timing and memory;
report.py: the table and the targets).
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from benchmarks.throughput.common import BASELINE_ROWS, CAMPAIGN_ROWS, CPU_KINDS, DEMO, DESIGN, FULL, HERE, MODEL, QUICK, RANK_DRAWS, REPO
from benchmarks.throughput.report import compare_equal_work, fmt, hundred_workers, per_minute, table, verdicts
from benchmarks.throughput.rows.campaign import client_costs, compare_ranks, fixed_costs, output_sizes, row_campaign
from benchmarks.throughput.rows.hardware import hardware_scaling
from benchmarks.throughput.rows.inprocess import row_inprocess
from benchmarks.throughput.rows.simuk import ensure_simuk_venv, row_simuk


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


def main() -> int:
    parser = argparse.ArgumentParser(description="Throughput of an sbc campaign against simuk and an in-process loop.")
    parser.add_argument("--simulations", type=int, help="simulations per row (default 16; 4 with --quick)")
    parser.add_argument("--quick", action="store_true", help="tiny settings (draws 100, tune 100, 4 simulations)")
    parser.add_argument("--demo", action="store_true",
                        help="the demo campaign's settings (2 chains, 1000 + 1000) instead of the seed's")
    parser.add_argument("--rows", default=",".join(BASELINE_ROWS + CAMPAIGN_ROWS + ("hardware",)),
                        help="comma-separated subset of the rows (hardware: the two-loop scaling check)")
    parser.add_argument("--json", type=Path, help="result file (default benchmarks/results/throughput[-quick].json)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary campaign outputs")
    args = parser.parse_args()

    settings = dict(QUICK if args.quick else DEMO if args.demo else FULL)
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
    print("targets (issues #20 and #25)" + (" -- --quick settings, not the targets' settings" if args.quick else "") + ":")
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


if __name__ == "__main__":
    sys.exit(main())
