"""A replicate's kernel after a failure: kept when a cell raised (the common failure, which must not
cost a kernel start each time), replaced when it timed out."""

import json

import nbformat

from sbc_helpers.run.execute import ReplicateTask, execute_replicate
from sbc_helpers.run.kernels import worker_kernel

REUSE = 7  # a key of its own among this process's warm kernels


def _template(source: str) -> str:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("fail = 'raise'", metadata={"tags": ["parameters"]}),
                                         nbformat.v4.new_code_cell(source)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return json.dumps(nb)


RAISES = _template("import time\nif fail == 'raise':\n    raise ValueError('diverged')\ntime.sleep(30)")


def _run(replicate: int, fail: str, timeout: float = 60):
    task = ReplicateTask("u", replicate, 1, RAISES, {"fail": fail}, timeout=timeout, kernel_name="python3",
                         kernel_reuse=REUSE)
    return execute_replicate(task).record


def _pid() -> int | None:
    kernel = worker_kernel("python3", REUSE)
    return kernel.km.provisioner.process.pid if kernel.km is not None else None


def test_a_kernel_whose_cell_raised_serves_the_next_replicate_and_a_timed_out_one_does_not():
    try:
        first = _run(0, "raise")
        assert (first.status, first.error, first.message) == ("failed", "ValueError", "diverged")
        pid = _pid()
        assert pid is not None
        assert _run(1, "raise").status == "failed" and _pid() == pid
        timed_out = _run(2, "sleep", timeout=3)
        assert timed_out.status == "failed" and "timeout" in timed_out.message
        assert _pid() is None  # discarded: the next replicate starts a new kernel
    finally:
        worker_kernel("python3", REUSE).discard()
