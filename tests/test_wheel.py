"""The package installs: a wheel built from this tree, installed into a fresh environment with the
lock's requirements, runs ``sbc run`` from another folder, its kernels on that environment's Python,
with nothing looked up in the source tree."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
UV = Path(sys.executable).parent / "uv"

CAMPAIGN = """\
name: wheel
seed: 5
replicates: 2
rank_draws: 10
design: {maker: normal_normal_design, n_points: 4}
models:
  - {name: nn, model: normal_normal, inference: {method: exact, function: 'sbc_helpers.models:normal_normal_posterior', draws: 20}}
"""


@pytest.mark.slow
def test_a_wheel_in_a_fresh_environment_runs_a_campaign_from_another_folder(tmp_path):
    if not UV.is_file():
        pytest.skip("uv is not installed beside this Python (make setup installs it)")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "JUPYTER_PATH")}
    run = lambda *cmd, **kw: subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env,  # noqa: E731
                                            timeout=1200, **kw)
    built = run(UV, "build", "--wheel", "--out-dir", tmp_path / "dist", ROOT)
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("sbc_helpers-*.whl"))
    venv = tmp_path / "venv"
    made = run(sys.executable, "-m", "venv", venv)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    for args in (["-r", ROOT / "requirements.lock"], ["--no-deps", wheel]):
        installed = run(UV, "pip", "install", "--quiet", "--python", python, *args)
        assert installed.returncode == 0, installed.stderr[-2000:]
    work = tmp_path / "elsewhere"
    work.mkdir()
    (work / "wheel.yaml").write_text(CAMPAIGN)
    done = run(venv / "bin" / "sbc", "run", "wheel.yaml", "--workers", "1", "-q", cwd=work)
    assert done.returncode == 0, done.stderr[-3000:]
    out = work / "outputs" / "wheel"
    assert (out / "index.html").is_file() and (out / "nn" / "summary.html").is_file()
    assert (pd.read_parquet(out / "nn" / "replicates.parquet")["status"] == "ok").all()
    # the kernels ran on the fresh environment's interpreter, from the installed package
    notebook = (out / "nn" / "replicates" / "0000.ipynb").read_text()
    assert str(ROOT) not in notebook
    where = run(python, "-c", "import sbc_helpers, sys; print(sbc_helpers.__file__)", cwd=work)
    assert str(venv) in where.stdout and str(ROOT) not in where.stdout
