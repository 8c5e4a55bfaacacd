"""Time simuk's ``SBC.run_simulations`` on the seed model; run by ``benchmarks.throughput`` in simuk's own venv.

Runs under ``benchmarks/.venv-simuk/bin/python`` (simuk is not a dependency of the project). The
model is the project's own ``hierarchical_centered`` on ``seed_design`` (imported from the
repository's source, which needs only NumPy, pandas and PyMC), so both tools fit the same model.
Sampler time is measured by wrapping ``pymc.sample`` (simuk calls it once per simulation), the same
span that ``sbc_helpers.inference`` records as ``seconds``. Writes one JSON object to ``--out``.
"""

import argparse
import json
import resource
import sys
import time
from importlib.metadata import version
from pathlib import Path

START = time.perf_counter()
REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--simulations", type=int, required=True)
    parser.add_argument("--draws", type=int, required=True)
    parser.add_argument("--tune", type=int, required=True)
    parser.add_argument("--chains", type=int, required=True)
    parser.add_argument("--target-accept", type=float, required=True)
    parser.add_argument("--cores", type=int, required=True)
    parser.add_argument("--sampler", default="nutpie")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--n-groups", type=int, default=5)
    parser.add_argument("--n-points", type=int, default=10)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    import logging

    import pymc as pm
    import simuk

    sys.path.insert(0, str(REPO))
    from sbc_helpers.models.designs import seed_design
    from sbc_helpers.models.library import hierarchical_centered

    logging.getLogger("pymc").setLevel(logging.ERROR)
    sample_seconds: list[float] = []
    original_sample = pm.sample

    def timed_sample(*a, **kw):
        start = time.perf_counter()
        try:
            return original_sample(*a, **kw)
        finally:
            sample_seconds.append(time.perf_counter() - start)

    pm.sample = timed_sample  # simuk calls ``pm.sample`` through the module attribute
    imported = time.perf_counter()

    model = hierarchical_centered(seed_design(n_groups=args.n_groups, n_points=args.n_points, seed=1234))
    sbc = simuk.SBC(
        model,
        num_simulations=args.simulations,
        sample_kwargs={"draws": args.draws, "tune": args.tune, "chains": args.chains,
                       "target_accept": args.target_accept, "cores": args.cores,
                       "nuts_sampler": args.sampler},
        seed=args.seed,
        progress_bar=False,
    )
    built = time.perf_counter()
    sbc.run_simulations()  # simuk logs and swallows a failing simulation: check the count below
    done = time.perf_counter()

    result = {
        "tool": "simuk",
        "completed": int(sbc._simulations_complete),
        "requested": args.simulations,
        "run_simulations_seconds": done - built,
        "sample_seconds": sample_seconds,
        "import_seconds": imported - START,
        "build_seconds": built - imported,
        "process_seconds": done - START,
        "self_maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "versions": {p: version(p) for p in ("simuk", "pymc", "pytensor", "nutpie", "arviz-base", "numpy")},
        "python": sys.version.split()[0],
        "sample_kwargs": {k: v for k, v in sbc.sample_kwargs.items()},
    }
    args.out.write_text(json.dumps(result, indent=1, default=str))
    return 0 if result["completed"] == args.simulations else 1


if __name__ == "__main__":
    sys.exit(main())
