"""Kernels: one warm Jupyter kernel per worker process, reused across replicate notebooks.

A fresh kernel per replicate pays start-up, imports and PyTensor/numba compilation every time,
often more than the sampling. A warm kernel keeps imported modules and compiled code; before each
replicate its namespace is cleared (``%reset -f``), figures closed and the working folder set, so no
variable leaks from one replicate into the next. After any failure, and after ``max_uses``
replicates, the kernel is shut down and the next replicate gets a new one.

papermill runs the notebook through the ``warm`` engine registered here: nbclient's own client with
the borrowed kernel manager, whose kernel client is closed after every notebook.
"""

import atexit
import logging
import os
import shutil
import tempfile

from jupyter_client.manager import KernelManager
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.utils import merge_kwargs, remove_args

log = logging.getLogger("sbc")
# chdir first: the previous replicate's folder is gone, and %reset needs a working folder
RESET = (
    "import os as _os\n_os.chdir({cwd!r})\n%reset -f\n"
    "import matplotlib.pyplot as _plt\n_plt.close('all')\ndel _plt\nget_ipython().execution_count = 1"
)


class WarmKernelEngine(NBClientEngine):
    """papermill engine that executes on an already running kernel (``km=``) and leaves it running."""

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None,
                                 stderr_file=None, start_timeout=60, execution_timeout=None, **kwargs):
        kwargs = remove_args(["input_path", "timeout", "startup_timeout"], **kwargs)
        final = merge_kwargs(kwargs, timeout=execution_timeout, startup_timeout=start_timeout,
                             kernel_name=kernel_name, log=log, log_output=log_output,
                             stdout_file=stdout_file, stderr_file=stderr_file)
        client = PapermillNotebookClient(nb_man, **final)
        try:
            return client.execute()
        finally:
            if client.kc is not None:
                client.kc.stop_channels()


papermill_engines.register("warm", WarmKernelEngine)


class WarmKernel:
    """A kernel kept alive between notebooks, with a clean namespace for each."""

    def __init__(self, kernel_name: str = "python3", max_uses: int = 50, start_timeout: float = 120):
        self.kernel_name = kernel_name
        self.max_uses = max_uses
        self.start_timeout = start_timeout
        self.km: KernelManager | None = None
        self.uses = 0

    def acquire(self, cwd: str) -> KernelManager:
        """A running kernel whose namespace is empty and whose working folder is ``cwd``."""
        if self.km is not None and (self.uses >= self.max_uses or not self.km.is_alive()):
            self.discard()
        if self.km is None:
            # IPC sockets in a private folder: no TCP port to race for, nothing sent in plain text
            self.sockets = tempfile.mkdtemp(prefix="sbc-kernel-")
            self.km = KernelManager(kernel_name=self.kernel_name, transport="ipc",
                                    ip=os.path.join(self.sockets, "ipc"))
            self.km.start_kernel(cwd=cwd)
            self.uses = 0
        self._run(RESET.format(cwd=cwd))
        self.uses += 1
        return self.km

    def _run(self, code: str) -> None:
        client = self.km.client()
        client.start_channels()
        try:
            client.wait_for_ready(timeout=self.start_timeout)
            reply = client.execute_interactive(code, store_history=False, timeout=60, output_hook=lambda msg: None)
            if reply["content"]["status"] != "ok":
                raise RuntimeError(f"kernel reset failed: {reply['content'].get('evalue')}")
        finally:
            client.stop_channels()

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


@atexit.register
def _shutdown_all() -> None:
    for kernel in _KERNELS.values():
        kernel.discard()
