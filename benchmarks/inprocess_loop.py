"""A plain in-process SBC loop over sbc_helpers functions; run by ``benchmarks.throughput`` in ``.venv``.

One process, no Dask, no notebooks, no figures: for each replicate ``run_replicate`` (simulate from
the prior, fit with the chains on ``--cores`` cores, archive the thinned draws, rank the free
parameters, the parameter-sized Deterministics and the data log-likelihood, record the fit's
diagnostics), then ``ReplicateResult.write`` (ranks.parquet, draws.nc, record JSON), which is what a
campaign replicate computes and keeps apart from its notebook and figures. Replicate seeds are the
campaign's (``replicate_seed(seed, model_name, r)``), so the loop fits the same data as the
campaign rows. Writes one JSON object to ``--out`` and the concatenated ranks next to it.

With ``--figures`` the loop does a campaign replicate's whole work except the notebook: the
template's steps (``sbc_helpers.run.steps``), cell by cell, with the template's figures rendered to
PNG by the same ``figures`` functions and its ``posterior_vs_truth`` table rendered to HTML. The
figures' time is recorded apart.
"""

import argparse
import json
import resource
import sys
import time
from pathlib import Path

START = time.perf_counter()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--simulations", type=int, required=True)
    parser.add_argument("--draws", type=int, required=True)
    parser.add_argument("--tune", type=int, required=True)
    parser.add_argument("--chains", type=int, required=True)
    parser.add_argument("--target-accept", type=float, required=True)
    parser.add_argument("--cores", type=int, required=True)
    parser.add_argument("--sampler", default="nutpie")
    parser.add_argument("--rank-draws", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1234, help="campaign seed")
    parser.add_argument("--model-name", default="centered", help="the campaign's model name (seeds)")
    parser.add_argument("--n-groups", type=int, default=5)
    parser.add_argument("--n-points", type=int, default=10)
    parser.add_argument("--scratch", type=Path, required=True, help="folder for the side-car files")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--figures", action="store_true",
                        help="also draw and render the template's figures and summary table")
    args = parser.parse_args()

    import logging

    import pandas as pd

    from sbc_helpers.run import steps
    from sbc_helpers.run.seeds import replicate_seed
    from sbc_helpers.contract import replicate_stem

    logging.getLogger("pymc").setLevel(logging.ERROR)
    imported = time.perf_counter()
    design = steps.load_design({"maker": "seed_design", "n_groups": args.n_groups, "n_points": args.n_points,
                                "seed": 1234})
    built_model = steps.build(design, "hierarchical_centered")
    inference = {"method": "nuts", "sampler": args.sampler, "draws": args.draws, "tune": args.tune,
                 "chains": args.chains, "target_accept": args.target_accept, "cores": args.cores}
    built = time.perf_counter()

    options = {"rank_draws": args.rank_draws, "keep_draws": 0, "derived": {}, "log_likelihood": True}
    replicates, ranks = [], []
    for r in range(args.simulations):
        seed = replicate_seed(args.seed, args.model_name, r)
        start = time.perf_counter()
        out = args.scratch / replicate_stem(r)
        if args.figures:
            result, figure_seconds = replicate_with_figures(built_model, r, seed, inference, options, out)
        else:
            result, figure_seconds = steps.run_replicate(built_model, r, seed, inference, output_dir=out, **options), 0.0
        wall = time.perf_counter() - start
        replicates.append({"replicate": r, "seed": seed, "wall_seconds": wall,
                           "seconds": float(result.record.seconds), "figure_seconds": figure_seconds,
                           "divergences": result.record.divergences})
        ranks.append(result.ranks)
    done = time.perf_counter()

    ranks_path = args.out.with_suffix(".ranks.parquet")
    pd.concat(ranks, ignore_index=True).to_parquet(ranks_path, index=False)
    result = {
        "tool": "in-process",
        "completed": len(replicates),
        "requested": args.simulations,
        "loop_seconds": done - built,
        "import_seconds": imported - START,
        "build_seconds": built - imported,
        "process_seconds": done - START,
        "replicates": replicates,
        "ranks_file": str(ranks_path),
        "inference": inference,
        "figures": args.figures,
        "self_maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    args.out.write_text(json.dumps(result, indent=1, default=str))
    return 0


def replicate_with_figures(built, replicate: int, seed: int, inference: dict, options: dict, output_dir):
    """The template's cells in order, without a notebook: the same steps, the same figures rendered
    to PNG, the summary table rendered to HTML. Returns the result and the seconds spent on figures."""
    from sbc_helpers.report import figures
    from sbc_helpers.run import steps

    spent = 0.0

    def draw(function, *args, **kwargs) -> None:
        nonlocal spent
        t = time.perf_counter()
        function(*args, **kwargs)
        spent += time.perf_counter() - t

    draw(figures.render, figures.design_figure, built.design, cache_key=figures.design_key(built.design))
    draw(figures.model_graph, built.model)
    simulation = steps.draw_truth(built, replicate, seed)
    ranked = steps.ranked_quantities(built, simulation)
    steps.record_truth(simulation, ranked, output_dir)
    draw(figures.render, figures.data_figure, built.design, simulation.data)
    fitted = steps.fit(built, simulation, seed, inference)
    draw(figures.render, figures.trace_figure, fitted.idata, simulation.truth, ranked)
    steps.posterior_vs_truth(fitted, simulation, ranked)._repr_html_()
    result = steps.rank(replicate, seed, built.model, simulation, fitted, ranked, options["rank_draws"],
                        options["keep_draws"], options["derived"], options["log_likelihood"])
    result.write(output_dir)
    return result, spent


if __name__ == "__main__":
    sys.exit(main())
