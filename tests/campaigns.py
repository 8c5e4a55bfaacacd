"""One tiny real campaign per test session, shared by the tests that only read its outputs.

`sbc run` on the seed models with the default sampler and reports, under umask 022: the path a new
user takes. It runs once per session, also under pytest-xdist, where the first worker to ask runs
it and the others wait for it (a file lock in the session's shared temporary folder). Tests that
change what they read work on a copy.
"""

import os
import shutil
import subprocess
from pathlib import Path

from filelock import FileLock

from processes import sbc

TINY = """
name: tiny
seed: 11
replicates: 3
rank_draws: 20
design: {maker: seed_design, n_groups: 2, n_points: 4, seed: 1}
inference: {sampler: nutpie, draws: 50, tune: 50, chains: 2}
timeout: 300
models:
  - {name: centered, model: hierarchical_centered}
  - {name: noncentered, model: hierarchical_noncentered}
"""


def session_folder(tmp_path_factory) -> Path:
    """The temporary folder of this test session, shared by its xdist workers."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def tiny_campaign(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """(params file, campaign folder, the run) of the session's tiny campaign, run on first use."""
    folder = session_folder(tmp_path_factory) / "tiny-campaign"
    folder.mkdir(exist_ok=True)
    params, out = folder / "tiny.yaml", folder / "out" / "tiny"
    with FileLock(str(folder / ".lock")):
        if not (folder / "done.json").is_file():
            params.write_text(TINY)
            done = sbc("run", params, "--output-dir", folder / "out", "--workers", "2", "-q",
                       preexec_fn=lambda: os.umask(0o022))
            (folder / "stderr.txt").write_text(done.stderr)
            (folder / "done.json").write_text(str(done.returncode))
    run = subprocess.CompletedProcess([], int((folder / "done.json").read_text()), "",
                                      (folder / "stderr.txt").read_text())
    return params, out, run


def copy_campaign(out: Path, to: Path) -> Path:
    """A copy of a finished campaign folder (file times kept), for a test that changes it."""
    copy = to / out.name
    shutil.copytree(out, copy)
    return copy
