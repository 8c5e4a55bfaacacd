"""The notebooks for people run top to bottom under papermill, as a reader would run them."""

from pathlib import Path

import nbformat
import papermill
import pytest

pytestmark = pytest.mark.slow  # whole campaigns on real processes

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(notebook, tmp_path):
    out = tmp_path / notebook.name
    papermill.execute_notebook(str(notebook), str(out), kernel_name="python3", progress_bar=False,
                               cwd=str(notebook.parent))
    executed = nbformat.read(out, as_version=4)
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    assert any("image/png" in o.get("data", {}) for c in executed.cells if c.cell_type == "code" for o in c.outputs)


def test_notebooks_are_stored_without_outputs():
    for notebook in NOTEBOOKS:
        nb = nbformat.read(notebook, as_version=4)
        assert all(not c.outputs for c in nb.cells if c.cell_type == "code"), notebook.name
