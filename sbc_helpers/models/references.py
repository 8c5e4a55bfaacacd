"""Find models and designs by name: a library entry, ``module:function`` or ``path/file.py:function``.

References come in three forms:

- ``path/to/file.py:function``: the file is imported (afresh whenever it changes on disk); a
  relative path is read from ``base_dir``, the params file's folder;
- ``package.module:function``: the module is imported from the environment (installed, or on
  ``PYTHONPATH``), as every worker must be able to import it too. ``function`` may be dotted
  (``module:Class.method``);
- ``path/to/file.pkl:name``: a function pickled by value with cloudpickle (``sbc.calibrate``
  writes one for a builder defined in a notebook cell); ``name`` only names it.

Every failure is a ``BadReference`` with a one-line message naming what is wrong.
"""

import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from sbc_helpers.errors import BadReference, FileImportError, one_line
from sbc_helpers.models.designs import DESIGNS
from sbc_helpers.models.library import MODELS


def _path(target: str, base_dir: Path | str | None) -> Path:
    path = Path(target).expanduser()
    return path if path.is_absolute() else Path(base_dir or ".") / path


def _import_file(path: Path):
    """Import a Python file as a module; a changed file (mtime or size) is imported again."""
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_mtime_ns}|{stat.st_size}"
    module_name = f"sbc_user_{''.join(c if c.isalnum() else '_' for c in path.stem)}_{abs(hash(key)):x}"
    module = sys.modules.get(module_name)
    if module is not None:
        return module
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise BadReference(f"cannot import {str(path)!r}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as err:
        del sys.modules[module_name]  # a fixed file is imported afresh next time
        if isinstance(err, Exception):
            raise FileImportError(f"importing {str(path)!r} failed: {one_line(err)}") from err
        raise
    return module


def load_function(reference: str, base_dir: Path | str | None = None) -> Callable:
    """Import ``module:function`` or ``file.py:function`` (relative paths from ``base_dir``)."""
    if not isinstance(reference, str) or ":" not in reference:
        raise BadReference(f"{reference!r} is not of the form module:function or file.py:function")
    target, func_name = reference.rsplit(":", 1)
    if not target or not func_name:
        raise BadReference(f"{reference!r} is not of the form module:function or file.py:function")
    if target.endswith(".pkl"):
        return _unpickle(_path(target, base_dir), func_name)
    if target.endswith(".py"):
        path = _path(target, base_dir)
        if not path.is_file():
            raise BadReference(f"file {str(path)!r} does not exist")
        module = _import_file(path)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as err:
            hint = " (a file reference must end in .py)" if "/" in target or "\\" in target else ""
            raise BadReference(f"cannot import module {target!r}: {err}{hint}") from err
        except Exception as err:
            raise BadReference(f"importing module {target!r} failed: {one_line(err)}") from err
    func = module
    for part in func_name.split("."):
        func = getattr(func, part, None)
    if func is None:
        raise BadReference(f"{target!r} has no function {func_name!r}")
    if not callable(func):
        raise BadReference(f"{target!r} has no function {func_name!r} (it is a {type(func).__name__})")
    return func


def _unpickle(path: Path, name: str) -> Callable:
    """The function pickled (by cloudpickle, whose output ``pickle`` reads) in the file at ``path``."""
    import pickle

    if not path.is_file():
        raise BadReference(f"file {str(path)!r} does not exist")
    try:
        func = pickle.loads(path.read_bytes())
    except Exception as err:
        raise BadReference(f"cannot unpickle {name!r} from {str(path)!r}: {one_line(err)}") from err
    if not callable(func):
        raise BadReference(f"{str(path)!r} holds a {type(func).__name__}, not a function")
    return func


def describe(reference: str) -> str:
    """What a model reference runs and how it reached this process, in one line."""
    target, sep, name = reference.rpartition(":")
    if not sep:
        return f"model {reference!r} from the sbc_helpers library"
    if target.endswith(".pkl"):
        return (f"model {name!r}, defined in the calling session and shipped by value "
                f"(cloudpickle, {Path(target).name})")
    if target.endswith(".py"):
        return f"model {name!r} from {Path(target).name}, shipped as a copy of the file"
    return f"model {name!r} imported from module {target!r}"


def resolve_model(spec: str, base_dir: Path | str | None = None) -> Callable:
    """A model builder from a library name (see ``MODELS``) or a function reference."""
    if spec in MODELS:
        return MODELS[spec]
    if ":" not in spec:
        raise BadReference(f"unknown model {spec!r}; library models are: {', '.join(MODELS)} "
                              "(or give module:function or file.py:function)")
    return load_function(spec, base_dir)


def read_design(path: Path | str, **read_kwargs) -> pd.DataFrame:
    """A design from a CSV or Parquet file; ``read_kwargs`` go to ``pd.read_csv``/``pd.read_parquet``."""
    path = Path(path)
    if not path.is_file():
        raise BadReference(f"design file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise BadReference(f"design file {str(path)!r} must be .csv or .parquet")
    try:
        frame = pd.read_csv(path, **read_kwargs) if suffix == ".csv" else pd.read_parquet(path, **read_kwargs)
    except Exception as err:
        raise BadReference(f"cannot read design file {str(path)!r}: {one_line(err)}") from err
    if frame.empty:
        raise BadReference(f"design file {str(path)!r} has no rows")
    return frame


def make_design(spec: dict | str, base_dir: Path | str | None = None) -> pd.DataFrame:
    """A design from ``{"maker": name_or_reference, **kwargs}``, or a CSV/Parquet file given as a
    path or as ``{"file": path, **read_kwargs}`` (relative paths from ``base_dir``)."""
    if isinstance(spec, str):
        return read_design(_path(spec, base_dir))
    if not isinstance(spec, dict):
        raise BadReference(f"a design is a file path or a mapping with 'maker' or 'file'; got {type(spec).__name__}")
    kwargs = dict(spec)
    if "file" in kwargs:
        if "maker" in kwargs:
            raise BadReference("a design has either 'maker' or 'file', not both")
        return read_design(_path(str(kwargs.pop("file")), base_dir), **kwargs)
    maker = kwargs.pop("maker", None)
    if maker is None:
        raise BadReference("a design needs a 'maker' (or a CSV/Parquet file path)")
    func = DESIGNS.get(maker) or (load_function(maker, base_dir) if ":" in maker else None)
    if func is None:
        raise BadReference(f"unknown design maker {maker!r}; library makers are: {', '.join(DESIGNS)}")
    try:
        design = func(**kwargs)
    except BadReference:
        raise
    except Exception as err:
        raise BadReference(f"design maker {maker!r} failed: {one_line(err)}") from err
    if not isinstance(design, pd.DataFrame):
        raise BadReference(f"design maker {maker!r} returned {type(design).__name__}, not a pandas DataFrame")
    return design
