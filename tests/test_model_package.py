"""``examples/model_package``'s own test suite, run as its users run it: pytest in the package's
folder, with the package importable (as after ``pip install -e .``) by the Jupyter kernels too."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "examples" / "model_package"


@pytest.mark.slow
def test_the_example_package_checks_its_calibration_with_check_calibration(tmp_path):
    paths = [str(PACKAGE.parents[1]), str(PACKAGE / "src"), os.environ.get("PYTHONPATH", "")]
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--basetemp", tmp_path],
                          cwd=PACKAGE, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "1 passed" in done.stdout
