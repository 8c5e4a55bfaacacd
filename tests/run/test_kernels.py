"""A warm kernel is reset before each notebook: empty namespace, the notebook's own working folder,
execution counts from 1, and every cell's output still captured."""

import nbformat
import papermill

from sbc_helpers.run.kernels import WarmKernel


def _notebook(path, *sources):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 0", metadata={"tags": ["parameters"]}),
                                         *(nbformat.v4.new_code_cell(s) for s in sources)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def _run(kernel, folder, source, **parameters):
    folder.mkdir(exist_ok=True)
    km, reset = kernel.acquire(str(folder))
    papermill.execute_notebook(str(source), str(folder / "out.ipynb"), parameters=parameters, kernel_name="python3",
                               progress_bar=False, engine_name="warm", km=km, reset=reset)
    return nbformat.read(folder / "out.ipynb", as_version=4)


def _result(cell) -> str:
    """The cell's value (its execute_result); a stream beside it, such as a warning, is not it."""
    results = [o for o in cell.outputs if o.get("output_type") == "execute_result"]
    assert len(results) == 1, cell.outputs
    return results[0]["data"]["text/plain"]


def test_a_reused_kernel_starts_each_notebook_clean_in_its_own_folder(tmp_path):
    first = _notebook(tmp_path / "first.ipynb", "leaked = x * 2\nimport os\nos.getcwd()")
    second = _notebook(tmp_path / "second.ipynb", "'leaked' in globals(), 'os' in globals()",
                       "import os\nos.getcwd()")
    kernel = WarmKernel("python3", max_uses=10)
    try:
        one = _run(kernel, tmp_path / "a", first, x=21)
        pid = kernel.km.provisioner.process.pid
        two = _run(kernel, tmp_path / "b", second)
        assert kernel.km.provisioner.process.pid == pid  # the same kernel process served both
    finally:
        kernel.discard()
    assert _result(one.cells[-1]) == repr(str(tmp_path / "a"))
    assert _result(two.cells[-2]) == "(False, False)"
    assert _result(two.cells[-1]) == repr(str(tmp_path / "b"))
    assert [c.execution_count for c in two.cells if c.cell_type == "code"] == [1, 2, 3]


def test_a_kernel_is_replaced_after_max_uses(tmp_path):
    source = _notebook(tmp_path / "n.ipynb", "1")
    kernel = WarmKernel("python3", max_uses=2)
    try:
        pids = []
        for i in range(3):
            _run(kernel, tmp_path / str(i), source)
            pids.append(kernel.km.provisioner.process.pid)
    finally:
        kernel.discard()
    assert pids[0] == pids[1] != pids[2]


def test_campaign_kernels_write_nothing_to_the_users_ipython_history(tmp_path, monkeypatch):
    """A campaign runs thousands of replicate cells; none of them may land in the user's history."""
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    source = _notebook(tmp_path / "n.ipynb", "secret = 12345", "get_ipython().history_manager.enabled")
    kernel = WarmKernel("python3", max_uses=10)
    try:
        out = _run(kernel, tmp_path / "a", source)
    finally:
        kernel.discard()
    assert _result(out.cells[-1]) == "False"
    history = list((tmp_path / "ipython").rglob("history.sqlite"))
    assert all(b"secret = 12345" not in path.read_bytes() for path in history)
