"""Kernels: one warm Jupyter kernel per worker process, reused across replicate notebooks.

A fresh kernel per replicate pays start-up, imports and PyTensor/numba compilation every time,
often more than the sampling. A warm kernel keeps imported modules and compiled code; before each
replicate its namespace is cleared (``%reset -f``), figures closed and the working folder set, so no
variable leaks from one replicate into the next. After any failure, and after ``max_uses``
replicates, the kernel is shut down and the next replicate gets a new one.

papermill runs the notebook through the ``warm`` engine registered here: nbclient's own client with
the borrowed kernel manager, whose kernel client is closed after every notebook. That client must be
asynchronous (``AsyncKernelClient``): nbclient polls the shell and IOPub channels and the kernel's
liveness concurrently, and a blocking client's ``get_msg`` would block that loop, so a kernel that
dies (DeadKernelError) or a cell that never returns (CellTimeoutError) would hang the worker forever.

Determinism: kernels run with PyTensor's Numba cache off. Numba code compiled cold and code loaded
from PyTensor's on-disk cache can differ in the last bits of floating point, which HMC amplifies
into different draws. A kernel compiles each model once and reuses the functions for every later
replicate (``compiled/cache.py``), so compiling cold costs seconds per kernel, not per replicate,
and every replicate runs code compiled the same way on any worker, in a fresh or a reused kernel.
"""

import atexit
import functools
import logging
import os
import shutil
import tempfile
import time
from queue import Empty

from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient.util import ensure_async, run_hook, run_sync
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines
from papermill.utils import merge_kwargs, remove_args

log = logging.getLogger("sbc")
quiet = logging.getLogger("sbc.nbclient")  # nbclient's own messages (``_prepare``)
# chdir first: the previous replicate's folder is gone, and %reset needs a working folder
# then freeze what survives (modules, compiled functions): later collections, including the one in
# the next %reset, skip it
RESET = (
    "import os as _os\n_os.chdir({cwd!r})\n%reset -f\n"
    "import matplotlib.pyplot as _plt\n_plt.close('all')\ndel _plt\n"
    "import gc as _gc\n_gc.collect()\n_gc.freeze()\ndel _gc\nget_ipython().execution_count = 1"
)


async def _ready(kc, timeout: float) -> None:
    """Wait until the kernel answers on the shell channel and its IOPub messages reach us.

    ``wait_for_ready`` does the same and then drains IOPub until 0.2 s pass in silence, on every
    replicate; here we stop as soon as the kernel_info request's own ``idle`` status arrives."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg_id = kc.kernel_info()
        answered = False
        while time.monotonic() < deadline:
            try:
                msg = await kc.iopub_channel.get_msg(timeout=0.5)
            except Empty:  # IOPub not connected yet (a subscriber misses what was sent before): ask again
                break
            if (msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status"
                    and msg["content"]["execution_state"] == "idle"):
                answered = True
                break
        if answered:
            while True:  # the matching shell reply is already there
                reply = await kc.shell_channel.get_msg(timeout=max(1.0, deadline - time.monotonic()))
                if reply["parent_header"].get("msg_id") == msg_id:
                    return
        if not await kc.is_alive():
            raise RuntimeError("Kernel died before replying to kernel_info")
    raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")


class WarmNotebookClient(PapermillNotebookClient):
    """papermill's client that first resets the borrowed kernel (``reset_code``) on its own channels."""

    reset_code = ""

    async def async_start_new_kernel_client(self):
        self.kc = self.km.client()
        await ensure_async(self.kc.start_channels())
        try:
            await _ready(self.kc, self.startup_timeout)
            if self.reset_code:
                reply = await self.kc.execute_interactive(self.reset_code, store_history=False, timeout=60,
                                                          output_hook=lambda msg: None)
                if reply["content"]["status"] != "ok":
                    raise RuntimeError(f"kernel reset failed: {reply['content'].get('evalue')}")
        except Exception:
            self.kc.stop_channels()
            raise
        self.kc.allow_stdin = False
        await run_hook(self.on_notebook_start, notebook=self.nb)
        return self.kc

    # nbclient binds the synchronous wrapper to its own coroutine at class creation: bind ours
    start_new_kernel_client = run_sync(async_start_new_kernel_client)


class WarmKernelEngine(NBClientEngine):
    """papermill engine that executes on an already running kernel (``km=``) and leaves it running.

    ``reset=`` is code the kernel runs first (``WarmKernel.acquire`` gives it)."""

    @classmethod
    def execute_notebook(cls, nb, kernel_name, output_path=None, progress_bar=False, log_output=False,
                         autosave_cell_every=30, **kwargs):
        """papermill's ``Engine.execute_notebook``, saving the notebook only when execution fails.

        papermill saves the whole notebook when it starts, at every cell's start and end and when it
        completes, then ``execute_notebook`` writes it once more. The notebook lives in scratch space
        and is read once, after that final write. A timeout or a dead kernel skips the final write, so
        on those paths the notebook as far as it ran is saved here."""
        nb_man = NotebookExecutionManager(nb, output_path=output_path, progress_bar=progress_bar,
                                          log_output=log_output, autosave_cell_every=autosave_cell_every)
        save, nb_man.save = nb_man.save, lambda *args, **kwargs: None
        nb_man.notebook_start()
        try:
            cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
        except BaseException:
            nb_man.save = save
            raise
        finally:
            nb_man.cleanup_pbar()
            nb_man.notebook_complete()
        return nb_man.nb

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None,
                                 stderr_file=None, start_timeout=60, execution_timeout=None, reset="", **kwargs):
        kwargs = remove_args(["input_path", "timeout", "startup_timeout"], **kwargs)
        final = merge_kwargs(kwargs, timeout=execution_timeout, startup_timeout=start_timeout,
                             kernel_name=kernel_name, log=quiet, log_output=log_output,
                             stdout_file=stdout_file, stderr_file=stderr_file)
        client = WarmNotebookClient(nb_man, **final)
        client.reset_code = reset
        try:
            return client.execute()
        finally:
            if client.kc is not None:
                client.kc.stop_channels()


# IPython writes every cell it runs to the user's SQLite history: a campaign's thousands of replicate
# cells do not belong there
KERNEL_ARGUMENTS = ["--HistoryManager.enabled=False"]


NATIVE = "sbc-native"
"""The kernel name that means: this process's own interpreter, whatever kernels are registered."""


class NativeKernelSpecs(KernelSpecManager):
    """Kernel specs with ``NATIVE``: an IPython kernel on ``sys.executable``. An installed package
    then runs its notebooks on its own environment, with no kernel registered (a registered
    "python3" may point at another Python)."""

    def get_kernel_spec(self, kernel_name):
        if kernel_name == NATIVE:
            import sys

            return KernelSpec(argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                              display_name="Python (sbc)", language="python", resource_dir="")
        return super().get_kernel_spec(kernel_name)


@functools.cache
def _prepare() -> None:
    """What the first warm kernel needs, done then rather than at import: papermill's ``warm``
    engine registered, nbclient's own messages silenced, and every kernel shut down at exit.

    nbclient's messages ("Kernel died while waiting for execute reply", "Timeout waiting for execute
    reply") repeat what the replicate's record says; they would print from every worker."""
    papermill_engines.register("warm", WarmKernelEngine)
    quiet.setLevel(logging.CRITICAL)
    atexit.register(_shutdown_all)


class WarmKernel:
    """A kernel kept alive between notebooks, with a clean namespace for each (the ``warm`` engine
    runs notebooks on it)."""

    def __init__(self, kernel_name: str = NATIVE, max_uses: int = 50):
        _prepare()
        self.kernel_name = kernel_name
        self.max_uses = max_uses
        self.km: KernelManager | None = None
        self.uses = 0

    def acquire(self, cwd: str) -> tuple[KernelManager, str]:
        """A running kernel, and the code that empties its namespace and moves it to ``cwd``
        (the ``warm`` engine runs it before the notebook: ``reset=``)."""
        if self.km is not None and (self.uses >= self.max_uses or not self.km.is_alive()):
            self.discard()
        if self.km is None:
            # IPC sockets in a private folder: no TCP port to race for, nothing sent in plain text
            self.sockets = tempfile.mkdtemp(prefix="sbc-kernel-")
            # nbclient gets an async client from km.client() (see the module docstring)
            self.km = KernelManager(kernel_name=self.kernel_name, transport="ipc",
                                    kernel_spec_manager=NativeKernelSpecs(),
                                    ip=os.path.join(self.sockets, "ipc"),
                                    client_class="jupyter_client.asynchronous.AsyncKernelClient")
            self.uses = 0
            self.km.start_kernel(cwd=cwd, extra_arguments=KERNEL_ARGUMENTS)
        self.uses += 1
        return self.km, RESET.format(cwd=cwd)

    def exit_code(self) -> int | None:
        """The kernel process's exit code if it has ended (died), else None."""
        try:
            return self.km.provisioner.process.poll() if self.km is not None else None
        except Exception:  # no process started, or a provisioner without a local process
            return None

    def discard(self) -> None:
        """Shut the kernel down; the next ``acquire`` starts a new one."""
        if self.km is not None:
            try:
                self.km.shutdown_kernel(now=True)
            except Exception as err:  # already dead: nothing left to stop
                log.debug("kernel shutdown: %s", err)
            self.km = None
            shutil.rmtree(self.sockets, ignore_errors=True)


_KERNELS: dict[tuple[str, int], WarmKernel] = {}


def worker_kernel(kernel_name: str, max_uses: int) -> WarmKernel:
    """This process's warm kernel for ``kernel_name`` (one per Dask worker process)."""
    key = (kernel_name, max_uses)
    if key not in _KERNELS:
        _KERNELS[key] = WarmKernel(kernel_name, max_uses)
    return _KERNELS[key]


def _shutdown_all() -> None:
    for kernel in _KERNELS.values():
        kernel.discard()
