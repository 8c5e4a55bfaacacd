"""Functions and models from the calling session as references the runner ships: a builder from a
notebook cell is pickled by value (cloudpickle) into a ``.pkl`` file, one from an installed module
is named ``module:function``; and, for a params file, a function's source as a module of its own.
"""

from __future__ import annotations

import ast
import inspect
import sysconfig
import textwrap
import types
from collections.abc import Callable
from pathlib import Path

from sbc_helpers.errors import ParamsError, SBCError, one_line


def name_of(obj) -> str:
    """A file- and page-safe name for a builder (its function name) or a ``pm.Model`` (its name)."""
    name = getattr(obj, "__name__", None) or getattr(obj, "name", None) or "model"
    safe = "".join(c if c.isalnum() or c in "_.-" else "_" for c in str(name)).strip("_.-")
    return safe or "model"


def _installed(module: types.ModuleType | None) -> bool:
    """A module every worker imports the same way: in site-packages, or this package."""
    if module is None or module.__name__ == "__main__":
        return False
    if module.__name__.split(".")[0] == "sbc_helpers":
        return True
    file = getattr(module, "__file__", None) or ""
    roots = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    return any(root and file.startswith(root) for root in roots)


def reference(obj, folder: Path, key: str) -> str:
    """A reference the runner can ship for ``obj`` (``key`` names the setting in errors).

    A string is a reference already; a function of an installed module is ``module:function``; any
    other function (a notebook cell's, a closure, a script's) and a ``pm.Model`` (wrapped in a
    builder that returns it) are pickled by value into ``folder``.
    """
    import cloudpickle
    import pymc as pm

    if isinstance(obj, str):
        return obj
    if isinstance(obj, pm.Model):
        obj = _returning(obj, name_of(obj))
    if not callable(obj):
        raise ParamsError(f"calibrate: {key}: {type(obj).__name__} is not a function, a pm.Model or a reference")
    module = inspect.getmodule(obj)
    qualname = getattr(obj, "__qualname__", "")
    if _installed(module) and "<locals>" not in qualname:
        return f"{module.__name__}:{qualname}"
    by_value = (module is not None and module.__name__ != "__main__" and not _installed(module)
                and module.__name__ not in cloudpickle.list_registry_pickle_by_value())
    if by_value:  # a module the workers may not import (a test file, a script): pickle its code too
        cloudpickle.register_pickle_by_value(module)
    try:
        data = cloudpickle.dumps(obj)
    except Exception as err:
        raise ParamsError(f"calibrate: {key}: {name_of(obj)!r} cannot be pickled: "
                          f"{one_line(err)}") from None
    finally:
        if by_value:
            cloudpickle.unregister_pickle_by_value(module)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name_of(obj)}.pkl"
    path.write_bytes(data)
    return f"{path.resolve()}:{name_of(obj)}"


def _returning(model, name: str) -> Callable:
    def builder(design):
        return model

    builder.__name__ = name  # its qualname stays a local one: pickled by value
    return builder


def source_module(func: Callable) -> str:
    """``func``'s source as a module: the imports of the modules and functions it uses, its literal
    constants (closure or global) and the functions it calls from its own module.

    Raises a one-line ``SBCError`` when the source cannot be had or a value it uses is no literal."""
    import pymc as pm

    if not inspect.isfunction(func):
        what = "a pm.Model object" if isinstance(func, pm.Model) else f"a {type(func).__name__}"
        raise SBCError(f"{name_of(func)!r} is {what}, which has no source: pass a builder function to "
                       "calibrate to write a params file")
    lines: list[str] = []
    definitions: list[str] = []
    _collect(func, lines, definitions, set())
    return "\n".join(dict.fromkeys(lines)) + "\n\n\n" + "\n\n\n".join(definitions) + "\n"


def _collect(func: Callable, lines: list[str], definitions: list[str], seen: set[str]) -> None:
    name = func.__name__
    seen.add(name)
    try:
        source = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError) as err:
        raise SBCError(f"the source of {name!r} cannot be had ({err}); save the builder in a .py file and "
                       "pass it as 'file.py:function'") from None
    found = inspect.getclosurevars(func)
    for var, value in {**found.globals, **found.nonlocals}.items():
        if isinstance(value, types.ModuleType):
            lines.append(f"import {value.__name__}" if value.__name__ == var
                         else f"import {value.__name__} as {var}")
        elif inspect.isfunction(value) and inspect.getmodule(value) is inspect.getmodule(func) \
                and not _installed(inspect.getmodule(value)):
            if var not in seen:
                _collect(value, lines, definitions, seen)
        elif callable(value) and getattr(value, "__module__", None) not in (None, "__main__") \
                and "<locals>" not in getattr(value, "__qualname__", "<locals>"):
            imported = value.__qualname__.split(".")[0]
            lines.append(f"from {value.__module__} import {imported}" + (f" as {var}" if var != imported else ""))
        elif _literal(value):
            lines.append(f"{var} = {value!r}")
        else:
            raise SBCError(f"{name!r} uses {var!r} (a {type(value).__name__}), which cannot be written as "
                           "source; define it inside the function or save the builder in a .py file")
    definitions.append(source.rstrip())


def _literal(value) -> bool:
    try:
        return ast.literal_eval(repr(value)) == value
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False
