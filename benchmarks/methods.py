"""Cold and warm seconds per fit, and ESS per second, for every inference method on one small model.

Each method runs in a fresh Python process: its first fit is "cold" (it compiles the method's
functions for the model), the next ``--warm`` fits, on other simulated data sets of the same model,
are "warm" (they reuse the compiled functions, as later replicates in a campaign's kernel do).
ESS per second is the smallest bulk ESS over the warm fit's seconds, median over the warm fits, for
the methods whose draws are autocorrelated (MCMC, SMC); independent draws get none.

The model is the non-centred hierarchical regression on 3 groups x 5 points (the tests' tiny design)
with each method's default settings.

    PYTHONPATH=. .venv/bin/python benchmarks/methods.py [--warm 3] [METHOD_LABEL ...]
"""

import argparse
import json
import subprocess
import sys
import time

METHODS = {
    "nuts": {"method": "nuts", "sampler": "nutpie"},
    "nuts-pymc": {"method": "nuts", "sampler": "pymc"},
    "nuts-numpyro": {"method": "nuts", "sampler": "numpyro"},
    "nuts-blackjax": {"method": "nuts", "sampler": "blackjax"},
    "advi": {"method": "advi"},
    "fullrank_advi": {"method": "fullrank_advi"},
    "pathfinder": {"method": "pathfinder"},
    "laplace": {"method": "laplace"},
    "smc": {"method": "smc"},
}


def one_method(label: str, warm: int) -> dict:
    """Time one method in this process: one cold fit, then ``warm`` warm fits."""
    import numpy as np

    from sbc_helpers.inference import fit
    from sbc_helpers.models.designs import seed_design
    from sbc_helpers.models.library import hierarchical_noncentered
    from sbc_helpers.simulation.prior import simulate
    from sbc_helpers.stats.diagnostics import fit_diagnostics

    design = seed_design(n_groups=3, n_points=5, seed=1234)
    seconds, ess_per_second = [], []
    for i in range(warm + 1):
        model = hierarchical_noncentered(design)  # a new model object per data set, as in a campaign
        data = simulate(model, seed=100 + i).data
        start = time.perf_counter()
        fitted = fit(model, data, seed=200 + i, **METHODS[label])
        seconds.append(time.perf_counter() - start)
        if i and not fitted.independent:
            ess = fit_diagnostics(fitted.idata, [rv.name for rv in model.free_RVs])["min_ess_bulk"]
            ess_per_second.append(ess / seconds[-1])
    return {"method": label, "cold": seconds[0], "warm": float(np.median(seconds[1:])),
            "ess_per_second": float(np.median(ess_per_second)) if ess_per_second else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("methods", nargs="*", default=list(METHODS))
    parser.add_argument("--warm", type=int, default=3, help="warm fits per method (default 3)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one_method(args.methods[0], args.warm)))
        return 0
    print("| method | cold s per fit | warm s per fit | ESS per second (warm) |\n|---|---|---|---|", flush=True)
    for label in args.methods:
        done = subprocess.run([sys.executable, __file__, "--child", "--warm", str(args.warm), label],
                              capture_output=True, text=True, check=False)
        if done.returncode:
            print(f"{label}: failed\n{done.stderr[-2000:]}", file=sys.stderr)
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        ess = f"{r['ess_per_second']:.0f}" if r["ess_per_second"] is not None else "independent draws"
        print(f"| {r['method']} | {r['cold']:.1f} | {r['warm']:.2f} | {ess} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
