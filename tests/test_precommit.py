"""The pre-commit hooks (strip notebook outputs, keep jupytext pairs in step) pass on the repository
as committed: templates and notebooks are stored without outputs and equal their paired .py files."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRE_COMMIT = Path(sys.executable).parent / "pre-commit"


def test_pre_commit_hooks_run_clean_on_a_copy_of_the_repository(tmp_path):
    # a copy of the tracked files in a new git repository: the hooks never touch the working tree
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, tmp_path / name)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
    for step in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "copy"]):
        subprocess.run([*git, *step], cwd=tmp_path, check=True, capture_output=True)
    run = subprocess.run([str(PRE_COMMIT), "run", "--all-files", "--show-diff-on-failure"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "Passed" in run.stdout
