"""``sbc_helpers.configure()``: Numba's portable target and PyTensor's flags, set by an explicit call,
never by an import; checked on the code Numba generates, in fresh processes."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

AXPY = """
import numpy as np

@numba.njit
def axpy(x, y):
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = 2.5 * x[i] + y[i]
    return out

axpy(np.ones(64), np.ones(64))
asm = "\\n".join(axpy.inspect_asm().values())
print("wide" if ("ymm" in asm or "zmm" in asm) else "narrow")
"""


def _python(code: str, **env) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "NUMBA_CPU_NAME"} | env
    done = subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stderr + done.stdout  # what it printed last


def _host_has_avx() -> bool:
    import llvmlite.binding as ll

    return "+avx" in ll.get_host_cpu_features().flatten().split(",")


def test_configured_numba_code_uses_no_instruction_beyond_the_portable_target():
    out = _python("import numba, sbc_helpers; sbc_helpers.configure()" + AXPY)
    assert out.split()[-1] == "narrow", out
    if _host_has_avx():  # the check can tell: unconfigured, Numba tunes the loop to the host's AVX
        assert _python("import numba" + AXPY).split()[-1] == "wide"


def test_importing_the_package_changes_no_setting():
    code = ("import os, numba; numba.config.BOUNDSCHECK = True\n"
            "import sbc_helpers.compiled.cache, sbc_helpers.run.steps, pytensor\n"
            "print(os.environ.get('NUMBA_CPU_NAME'), numba.config.CPU_NAME, numba.config.BOUNDSCHECK,"
            " pytensor.config.numba__cache)")
    assert _python(code).split()[-4:] == ["None", "None", "True", "True"]


def test_importing_every_module_leaves_the_environment_numba_our_loggers_and_papermill_alone():
    code = """
import importlib, logging, os, pkgutil, numba
from papermill.engines import papermill_engines
def settings():
    return {"environment": dict(os.environ),
            "numba.config": {k: repr(v) for k, v in vars(numba.config).items() if k.isupper()},
            "papermill engines": dict(papermill_engines._engines)}
before = settings()
import sbc_helpers
for module in pkgutil.walk_packages(sbc_helpers.__path__, "sbc_helpers."):
    importlib.import_module(module.name)
after = settings()
ours = [n for n, l in logging.root.manager.loggerDict.items() if n.split(".")[0] == "sbc" and getattr(l, "level", 0)]
print([n for n in before if after[n] != before[n]] + ours or "untouched")
"""
    assert _python(code).split()[-1] == "untouched"


def test_configure_keeps_the_users_numba_settings_and_a_users_target():
    code = ("import numba; numba.config.BOUNDSCHECK = True\n"
            "import sbc_helpers; sbc_helpers.configure(); print(numba.config.BOUNDSCHECK, numba.config.CPU_NAME)")
    assert _python(code).split()[-2:] == ["True", "generic"]
    assert _python(code, NUMBA_CPU_NAME="host").split()[-2:] == ["True", "host"]


@pytest.mark.skipif(not _host_has_avx(), reason="the host CPU has no AVX: portable and native code look alike")
def test_configure_after_numba_compiled_warns_once_and_says_what_to_do():
    code = ("import logging, numba; logging.basicConfig()\n"
            "numba.njit(lambda x: x + 1)(1.0)\n"
            "import sbc_helpers; sbc_helpers.configure(); sbc_helpers.configure()" + AXPY)
    out = _python(code)
    assert out.count("Numba compiled code before sbc_helpers.configure()") == 1, out
    assert out.split()[-1] == "wide"


def test_the_numba_cache_folder_is_in_the_compile_directory_the_user_chose(tmp_path):
    code = ("import sbc_helpers; sbc_helpers.configure()\n"
            "from sbc_helpers.setup import numba_cache_folder; import pytensor, pytensor.tensor as pt\n"
            "x = pt.vector('x'); pytensor.function([x], pt.exp(x).sum(), mode='NUMBA')([1.0])\n"
            "print(numba_cache_folder(), pytensor.config.numba__cache, pytensor.config.numba__fastmath)")
    folder, cache, fastmath = _python(code, PYTENSOR_FLAGS=f"base_compiledir={tmp_path}").split()[-3:]
    assert folder.startswith(str(tmp_path)) and folder.endswith("numba")
    assert any(path.suffix == ".nbi" for path in Path(folder).rglob("*")), "the compile wrote nothing there"
    assert (cache, fastmath) == ("True", "False")
    assert _python(code, PYTENSOR_FLAGS=f"base_compiledir={tmp_path}", SBC_NUMBA_CACHE="0").split()[-2:] == \
        ["False", "False"]
