"""The process-wide settings a replicate's draws depend on, made once by an explicit call.

``configure()`` is called by the runner, by every replicate kernel (the template's imports cell), by
the API and before anything is compiled; importing the package changes nothing.

- Numba compiles for a fixed, portable CPU target: by default it tunes code to the host CPU, and
  with fast math the draws then follow the CPU (ranks recorded on one machine came out different on
  another). ``NUMBA_CPU_NAME`` set by the user wins (``host`` asks for native code). The target is
  fixed when Numba's first function is defined, so ``configure`` must come before: when it comes
  too late it warns, once.
- PyTensor's fast math is off and its on-disk Numba cache on: with fast math, code loaded from the
  cache differs from code compiled cold in the last bits, which HMC amplifies into different draws;
  without it the two are bit-identical, so a process that finds a model in the cache skips most of
  its compile and draws the same. ``SBC_NUMBA_CACHE=0`` turns the cache off (same draws, slower).
"""

import logging
import os

log = logging.getLogger("sbc")

PORTABLE_CPU = "generic"
_done = False


def _numba_target_fixed() -> bool:
    """Whether Numba's code generator exists already (any function defined), its target settled."""
    from numba.core.registry import cpu_target

    return "_toplevel_target_context" in vars(cpu_target)


def configure() -> None:
    """Numba's portable target and PyTensor's cache flags, for this process (idempotent)."""
    global _done
    if _done:
        return
    _done = True
    from numba.core import config

    if "NUMBA_CPU_NAME" not in os.environ and config.CPU_NAME != PORTABLE_CPU:
        if _numba_target_fixed():
            log.warning("Numba compiled code before sbc_helpers.configure(), so it targets this machine's CPU: "
                        "draws may differ on other CPUs (call sbc_helpers.configure() first, or set "
                        "NUMBA_CPU_NAME=generic)")
        else:
            config.CPU_NAME, config.CPU_FEATURES = PORTABLE_CPU, ""
    import pytensor  # after the target is set

    pytensor.config.numba__fastmath = False
    pytensor.config.numba__cache = os.environ.get("SBC_NUMBA_CACHE") != "0"


def numba_cache_folder() -> str:
    """Where compiled Numba code is kept: ``numba`` in PyTensor's base compile directory
    (``PYTENSOR_FLAGS=base_compiledir=...``), the folder PyTensor's Numba cache writes to."""
    from pytensor.link.numba.cache import NUMBA_CACHE_PATH

    return str(NUMBA_CACHE_PATH)
