"""A plain in-process SBC loop over sbc_helpers functions; run by ``throughput.py`` in ``.venv``.

One process, no Dask, no notebooks, no figures: for each replicate ``run_replicate`` (simulate from
the prior, fit with the chains on ``--cores`` cores, archive the thinned draws, rank the free
parameters, the parameter-sized Deterministics and the data log-likelihood, record the fit's
diagnostics), then ``write_sidecars`` (ranks.parquet, draws.nc, record JSON), which is what a
campaign replicate computes and keeps apart from its notebook and figures. Replicate seeds are the
campaign's (``replicate_seed(seed, model_name, r)``), so the loop fits the same data as the
campaign rows. Writes one JSON object to ``--out`` and the concatenated ranks next to it.

With ``--figures`` the loop does a campaign replicate's whole work except the notebook: the same
verbs the template calls (``simulate``, ``fit``, ``summarize``), with the template's figures drawn by
the same ``plots`` functions at the template's 72 dpi and rendered to PNG as Jupyter's inline
backend renders them, and its ``posterior_vs_truth`` table rendered to HTML. The figures' time is
recorded apart.
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

    from sbc_helpers.registry import make_design, resolve_model
    from sbc_helpers.replicate import run_replicate, write_sidecars
    from sbc_helpers.seeds import replicate_seed

    logging.getLogger("pymc").setLevel(logging.ERROR)
    imported = time.perf_counter()
    design = make_design({"maker": "seed_design", "n_groups": args.n_groups, "n_points": args.n_points,
                          "seed": 1234})
    model = resolve_model("hierarchical_centered")(design)
    inference = {"method": "nuts", "sampler": args.sampler, "draws": args.draws, "tune": args.tune,
                 "chains": args.chains, "target_accept": args.target_accept, "cores": args.cores}
    built = time.perf_counter()

    options = {"rank_draws": args.rank_draws, "keep_draws": 0, "expressions": {}, "log_lik": True}
    replicates, ranks = [], []
    for r in range(args.simulations):
        seed = replicate_seed(args.seed, args.model_name, r)
        start = time.perf_counter()
        if args.figures:
            result, figure_seconds = replicate_with_figures(model, design, r, seed, inference, options)
        else:
            result, figure_seconds = run_replicate(model, r, seed, inference, quantities=None, **options), 0.0
        write_sidecars(result, args.scratch / f"{r:04d}")
        wall = time.perf_counter() - start
        replicates.append({"replicate": r, "seed": seed, "wall_seconds": wall,
                           "seconds": float(result.record["seconds"]), "figure_seconds": figure_seconds,
                           "divergences": result.record.get("divergences")})
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


def replicate_with_figures(model, design, replicate: int, seed: int, inference: dict, options: dict):
    """``run_replicate`` unrolled as the template runs it, with its figures and summary table rendered
    as a notebook renders them. Returns the result and the seconds spent on figures."""
    import matplotlib.pyplot as plt
    from IPython.core.pylabtools import print_figure

    from sbc_helpers import plots
    from sbc_helpers.fit import fit
    from sbc_helpers.replicate import default_quantities, posterior_vs_truth, summarize
    from sbc_helpers.seeds import stream_seeds
    from sbc_helpers.simulate import simulate

    plt.rcParams["figure.dpi"] = 72  # as the template sets it

    def render() -> None:  # what the inline backend does with each open figure at a cell's end
        for number in plt.get_fignums():
            print_figure(plt.figure(number), "png", bbox_inches="tight")
        plt.close("all")

    figures = 0.0
    seeds = stream_seeds(seed)
    t = time.perf_counter()
    plots.design_scatter_png(design, title="Design: y against x")._repr_png_()
    plots.design_scatter_png(design, hue="group", title="Design, coloured by group")._repr_png_()
    plots.model_graph(model)
    figures += time.perf_counter() - t
    simulation = simulate(model, seeds["simulate"])
    ranked = default_quantities(model, simulation)
    t = time.perf_counter()
    plots.design_scatter(design, y=next(iter(simulation.data.values())), hue="group",
                         title="Mock data from parameters drawn from the prior")
    render()
    figures += time.perf_counter() - t
    fitted = fit(model, simulation.data, seed=seeds["fit"], **inference)
    t = time.perf_counter()
    plots.trace(fitted.idata, var_names=ranked[:2])
    render()
    figures += time.perf_counter() - t
    posterior_vs_truth(fitted, simulation, ranked)._repr_html_()
    return summarize(replicate, seed, model, simulation, fitted, ranked, **options), figures


if __name__ == "__main__":
    sys.exit(main())
