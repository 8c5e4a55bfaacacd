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

Determinism: kernels run with PyTensor's Numba cache off (``numba__cache=False``) unless a task asks
for it. Numba code compiled cold and code loaded from PyTensor's on-disk cache can differ in the
last bits of floating point, which HMC amplifies into different draws; and a replicate's observed
data are constants of its compiled log-density, so its first run compiles that function cold while
any later run of the same replicate (a retry, a resumed or repeated campaign on the same machine)
loads it from the cache. With the cache off every replicate compiles the same way every time, on
any worker, in a fresh or a reused kernel. (With ``numba_cache=True`` replicates are faster, and the
runner's compile-cache warm-up keeps first runs consistent, but not repeated ones.)
"""

import atexit
import logging
import os
import shutil
import tempfile

from jupyter_client.blocking import BlockingKernelClient
from jupyter_client.manager import KernelManager
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.utils import merge_kwargs, remove_args

log = logging.getLogger("sbc")
# nbclient's own messages ("Kernel died while waiting for execute reply", "Timeout waiting for
# execute reply") repeat what the replicate's record says; they would print from every worker
quiet = logging.getLogger("sbc.nbclient")
quiet.setLevel(logging.CRITICAL)
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
                             kernel_name=kernel_name, log=quiet, log_output=log_output,
                             stdout_file=stdout_file, stderr_file=stderr_file)
        client = PapermillNotebookClient(nb_man, **final)
        try:
            return client.execute()
        finally:
            if client.kc is not None:
                client.kc.stop_channels()


papermill_engines.register("warm", WarmKernelEngine)


def kernel_env(numba_cache: bool = False) -> dict[str, str]:
    """The environment a replicate kernel starts with: this process's, Numba cache off unless asked."""
    env = dict(os.environ)
    if not numba_cache:  # appended: PyTensor reads the flags in order, the last setting wins
        env["PYTENSOR_FLAGS"] = ",".join(f for f in (env.get("PYTENSOR_FLAGS", ""), "numba__cache=False") if f)
    return env


class WarmKernel:
    """A kernel kept alive between notebooks, with a clean namespace for each."""

    def __init__(self, kernel_name: str = "python3", max_uses: int = 50, start_timeout: float = 120,
                 numba_cache: bool = False):
        self.kernel_name = kernel_name
        self.max_uses = max_uses
        self.start_timeout = start_timeout
        self.numba_cache = numba_cache
        self.km: KernelManager | None = None
        self.uses = 0

    def acquire(self, cwd: str) -> KernelManager:
        """A running kernel whose namespace is empty and whose working folder is ``cwd``."""
        if self.km is not None and (self.uses >= self.max_uses or not self.km.is_alive()):
            self.discard()
        if self.km is None:
            # IPC sockets in a private folder: no TCP port to race for, nothing sent in plain text
            self.sockets = tempfile.mkdtemp(prefix="sbc-kernel-")
            # nbclient gets an async client from km.client() (see the module docstring)
            self.km = KernelManager(kernel_name=self.kernel_name, transport="ipc",
                                    ip=os.path.join(self.sockets, "ipc"),
                                    client_class="jupyter_client.asynchronous.AsyncKernelClient")
            self.uses = 0
            self.km.start_kernel(cwd=cwd, env=kernel_env(self.numba_cache))
        self._run(RESET.format(cwd=cwd))
        self.uses += 1
        return self.km

    def _run(self, code: str) -> None:
        client = BlockingKernelClient(parent=self.km, **self.km.get_connection_info(session=True))
        client.start_channels()
        try:
            client.wait_for_ready(timeout=self.start_timeout)
            reply = client.execute_interactive(code, store_history=False, timeout=60, output_hook=lambda msg: None)
            if reply["content"]["status"] != "ok":
                raise RuntimeError(f"kernel reset failed: {reply['content'].get('evalue')}")
        finally:
            client.stop_channels()

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


_KERNELS: dict[tuple[str, int, bool], WarmKernel] = {}


def worker_kernel(kernel_name: str, max_uses: int, numba_cache: bool = False) -> WarmKernel:
    """This process's warm kernel for ``kernel_name`` (one per Dask worker process)."""
    key = (kernel_name, max_uses, numba_cache)
    if key not in _KERNELS:
        _KERNELS[key] = WarmKernel(kernel_name, max_uses, numba_cache=numba_cache)
    return _KERNELS[key]


@atexit.register
def _shutdown_all() -> None:
    for kernel in _KERNELS.values():
        kernel.discard()
