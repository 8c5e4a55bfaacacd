"""The table, the targets met or missed, and what 100 workers would ask of the scheduler.
"""


from benchmarks.throughput.common import CAMPAIGN_VS_SIMUK_AT_64, TARGETS


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
    """Each target of issues #20 and #25 with the measured value (None when a row is missing)."""
    simuk, inproc, one, two = (rows.get(k) for k in ("simuk", "inprocess", "sbc1w", "sbc2w"))
    good = lambda r: r is not None and "error" not in r  # noqa: E731
    out = []

    def add(name, value, target, ok_when):
        out.append({"target": name, "value": value, "threshold": target,
                    "met": None if value is None else bool(ok_when(value, target))})

    simuk_rate = simuk["rate_steady"] if good(simuk) else None
    loop = rows.get("inprocess-figures")
    loop_rate = loop["rate_e2e"] if good(loop) else None
    if good(two):
        at_64 = two["replicates"] >= 64
        add(f"sbc run (2 workers, end to end) / simuk run_simulations ({two['replicates']} simulations)",
            two["rate_e2e"] / simuk_rate if simuk_rate else None,
            CAMPAIGN_VS_SIMUK_AT_64 if at_64 else TARGETS["campaign_vs_simuk"], lambda v, t: v >= t)
        add("sbc run (2 workers, end to end) / in-process loop with the same figures (end to end)",
            two["rate_e2e"] / loop_rate if loop_rate else None, TARGETS["campaign_vs_inprocess_figures"],
            lambda v, t: v >= t)
        warm = two.get("warm") or {}
        add("warm replicate / its fit, median wall times (2 workers)", warm.get("replicate_over_fit"),
            TARGETS["replicate_over_fit"], lambda v, t: v <= t)
        add("figures s per warm replicate (2 workers)", warm.get("figures_mean", two["figures_s_per_replicate"]),
            TARGETS["figures_s_per_replicate"], lambda v, t: v <= t)
        add("ranks and log-likelihood s per warm replicate (2 workers)", warm.get("stage_means", {}).get("t_ranks"),
            TARGETS["ranks_s_per_replicate"], lambda v, t: v <= t)
        add("a kernel's first replicate, s (2 workers)", two.get("first_replicate_seconds"),
            TARGETS["first_replicate_s"], lambda v, t: v <= t)
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
