"""Execute: run one replicate notebook with papermill in scratch space, return its ``Outcome``.

This runs on a Dask worker. It writes nothing outside its temporary folder: the executed notebook,
the ranks, draws and record travel back to the client, which alone writes under ``outputs/``.
User files the campaign refers to (a model, simulator, design maker or inference function given as
``file.py:function``, a CSV/Parquet design) travel with the task and are written into the scratch
folder, where the task's parameters point (relative paths, read from the kernel's working folder):
the worker needs no shared filesystem. Every failure papermill or nbclient can raise becomes a
record with status "failed".
"""

import json
import tempfile
import time
import traceback
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from sbc_helpers.contract import STAGES, Outcome, Record, collect, read_truth
from sbc_helpers.errors import one_line
from sbc_helpers.run.kernels import NATIVE, WarmKernel, worker_kernel


@dataclass
class ReplicateTask:
    """Everything a worker needs to run one replicate, with no files shared with the client."""

    unit: str
    replicate: int
    seed: int
    template: str  # the template notebook's JSON text
    parameters: dict = field(default_factory=dict)
    timeout: float = 1800
    kernel_name: str = NATIVE
    kernel_reuse: int = 1000  # replicates per warm kernel; 0 starts a fresh kernel for each
    files: dict[str, bytes] = field(default_factory=dict)  # relative path in scratch -> content


def write_files(files: dict[str, bytes], folder: Path) -> None:
    """Write shipped files under ``folder`` at their relative paths (never outside it)."""
    root = folder.resolve()
    for name, data in files.items():
        target = (root / name).resolve()
        if not target.is_relative_to(root) or target == root:
            raise ValueError(f"shipped file {name!r} would land outside the scratch folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def stage_seconds(notebook: dict) -> dict[str, float]:
    """Seconds spent per tagged stage, from papermill's per-cell durations (``notebook``: its JSON)."""
    totals: dict[str, float] = defaultdict(float)
    for cell in notebook.get("cells", []):
        duration = cell.get("metadata", {}).get("papermill", {}).get("duration")
        tags = cell.get("metadata", {}).get("tags", [])
        stage = next((t for t in tags if t in STAGES), None)
        if stage and duration:
            totals[stage] += float(duration)
    return {s: round(totals.get(s, 0.0), 3) for s in STAGES}


def _first_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    lines = [line for line in text.splitlines() if line.strip()]
    # papermill puts the exception's own line last; nbclient's timeout message first
    return one_line(lines[-1] if type(err).__name__ == "PapermillExecutionError" else lines[0])


def _error(err: BaseException) -> str:
    """The name of the error behind a failure: the cell's exception for a failed cell."""
    return getattr(err, "ename", None) or type(err).__name__


def _message(err: BaseException, task: ReplicateTask, exit_code: int | None) -> str:
    name = type(err).__name__
    if getattr(err, "evalue", None):  # a cell's exception: its own message, without its name
        return one_line(err, typed=False)
    if name == "CellTimeoutError":
        return f"replicate ran past its timeout of {task.timeout:g} s (params 'timeout')"
    if name == "DeadKernelError" and exit_code is not None:
        return f"the kernel died (exit code {exit_code})"
    return _first_line(err)


def execute_replicate(task: ReplicateTask) -> Outcome:
    """Run the template for ``task``; return its notebook text, ranks, draws and record."""
    import papermill as pm

    start = time.perf_counter()
    # the timeout bounds the whole notebook: each cell may use what the cells before it left
    deadline = time.monotonic() + task.timeout
    timeout_func = lambda cell: max(1.0, deadline - time.monotonic())  # noqa: E731 - nbclient wants a callable
    with tempfile.TemporaryDirectory(prefix="sbc-") as scratch:
        scratch = Path(scratch)
        template = scratch / "template.ipynb"
        template.write_text(task.template)
        output = scratch / "replicate.ipynb"
        parameters = {**task.parameters, "replicate": task.replicate, "seed": task.seed,
                      "output_dir": str(scratch)}
        # kernel_reuse 0: a kernel of its own, started and shut down like a reused one's
        warm = (worker_kernel(task.kernel_name, task.kernel_reuse) if task.kernel_reuse > 0
                else WarmKernel(task.kernel_name, max_uses=1))
        try:
            write_files(task.files, scratch)
            km, reset = warm.acquire(str(scratch))
            pm.execute_notebook(
                str(template), str(output), parameters=parameters, kernel_name=task.kernel_name,
                progress_bar=False, execution_timeout=task.timeout, timeout_func=timeout_func,
                engine_name="warm", km=km, reset=reset,
            )
            outcome = collect(scratch)
        except BaseException as err:  # noqa: BLE001 - every failure is recorded, none is lost
            exit_code = warm.exit_code()
            # a kernel whose cell raised is as good as before (the next notebook starts it clean);
            # a timed-out, interrupted or dead one is never reused
            if not (type(err).__name__ == "PapermillExecutionError" and exit_code is None):
                warm.discard()
            if isinstance(err, KeyboardInterrupt):
                raise
            outcome = Outcome(record=Record.failed(
                task.replicate, task.seed, _error(err), _message(err, task, exit_code),
                traceback="".join(traceback.format_exception(err))[-4000:], truth=read_truth(scratch)))
        finally:
            if task.kernel_reuse <= 0:
                warm.discard()
        outcome.notebook = output.read_text() if output.is_file() else None
        update = {"wall_seconds": round(time.perf_counter() - start, 3)}
        if outcome.notebook is not None:
            try:
                update["stage_seconds"] = stage_seconds(json.loads(outcome.notebook))
            except ValueError:  # a notebook cut short mid-write (bad JSON): keep it, skip its timings
                pass
        outcome.record = outcome.record.model_copy(update=update)
        return outcome
