"""The Numba disk cache (on by default, fast math off) is deterministic: a process that compiles the
model with the cache off, one that compiles it and writes the cache, and one that loads it (nutpie's
callbacks included) give identical draws."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
FIT = """
import sys
import numpy as np
from sbc_helpers.run import steps
built = steps.build(steps.load_design({"maker": "seed_design", "n_groups": 3, "n_points": 4, "seed": 1}),
                    "hierarchical_centered")
simulation = steps.draw_truth(built, 0, 11)
fitted = steps.fit(built, simulation, 11, {"method": "nuts", "sampler": "nutpie", "draws": 100, "tune": 100,
                                           "chains": 2})
posterior = fitted.idata["posterior"].to_dataset()
np.save(sys.argv[1], np.concatenate([posterior[v].to_numpy().ravel() for v in sorted(posterior.data_vars)]))
from sbc_helpers.compiled.cache import CACHE
compiled = next(e.function for e in CACHE.entries if e.key[0] == "nutpie")
print("callbacks loaded", compiled.compiled_logp_func._cache_hits, compiled.compiled_expand_func._cache_hits)
"""


def _draws(tmp_path: Path, name: str, cache: bool) -> tuple[np.ndarray, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTENSOR_FLAGS": f"base_compiledir={tmp_path / 'compiledir'}",
           "SBC_NUMBA_CACHE": "1" if cache else "0"}
    run = subprocess.run([sys.executable, "-c", FIT, str(tmp_path / name)], env=env, check=True, capture_output=True,
                         text=True, timeout=1200)
    return np.load(tmp_path / f"{name}.npy"), run.stdout.strip().splitlines()[-1]


@pytest.mark.slow
def test_cold_and_cached_numba_code_give_identical_draws(tmp_path):
    cold, _ = _draws(tmp_path, "cold", cache=False)
    numba_dir = tmp_path / "compiledir" / "numba"
    assert not any(numba_dir.rglob("*.nbi")), "SBC_NUMBA_CACHE=0 wrote the cache"
    written, compiled = _draws(tmp_path, "written", cache=True)  # an empty cache: compiled, then written
    assert any(numba_dir.rglob("*.nbi")), "nothing was cached"
    loaded, found = _draws(tmp_path, "loaded", cache=True)
    assert (compiled, found) == ("callbacks loaded 0 0", "callbacks loaded 1 1")
    np.testing.assert_array_equal(written, cold)
    np.testing.assert_array_equal(loaded, cold)
