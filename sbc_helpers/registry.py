"""Find models and designs by name: a library entry, ``module:function`` or ``path/file.py:function``."""

import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from sbc_helpers.designs import DESIGNS
from sbc_helpers.models import MODELS


class ReferenceError_(ValueError):
    """A model, design or function reference that cannot be resolved."""


def load_function(reference: str, base_dir: Path | str | None = None) -> Callable:
    """Import ``module:function`` or ``file.py:function`` (relative paths from ``base_dir``)."""
    if ":" not in reference:
        raise ReferenceError_(f"{reference!r} is not of the form module:function or file.py:function")
    target, func_name = reference.rsplit(":", 1)
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_absolute():
            path = Path(base_dir or ".") / path
        if not path.is_file():
            raise ReferenceError_(f"file {str(path)!r} does not exist")
        module_name = f"sbc_user_{path.stem}_{abs(hash(str(path.resolve()))):x}"
        module = sys.modules.get(module_name)
        if module is None:
            spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[module_name]  # a fixed file is imported afresh next time
                raise
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as err:
            raise ReferenceError_(f"cannot import module {target!r}: {err}") from err
    func = getattr(module, func_name, None)
    if not callable(func):
        raise ReferenceError_(f"{target!r} has no function {func_name!r}")
    return func


def resolve_model(spec: str, base_dir: Path | str | None = None) -> Callable:
    """A model builder from a library name (see ``MODELS``) or a function reference."""
    if spec in MODELS:
        return MODELS[spec]
    if ":" not in spec:
        raise ReferenceError_(f"unknown model {spec!r}; library models are: {', '.join(MODELS)}")
    return load_function(spec, base_dir)


def make_design(spec: dict | str, base_dir: Path | str | None = None) -> pd.DataFrame:
    """A design from ``{"maker": name_or_reference, **kwargs}``, or a CSV/Parquet file given as a
    path or as ``{"file": path}``."""
    if isinstance(spec, dict) and set(spec) == {"file"}:
        spec = spec["file"]
    if isinstance(spec, str):
        path = Path(spec) if Path(spec).is_absolute() else Path(base_dir or ".") / spec
        if not path.is_file():
            raise ReferenceError_(f"design file {str(path)!r} does not exist")
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        if path.suffix == ".csv":
            return pd.read_csv(path)
        raise ReferenceError_(f"design file {str(path)!r} must be .csv or .parquet")
    kwargs = dict(spec)
    maker = kwargs.pop("maker", None)
    if maker is None:
        raise ReferenceError_("a design needs a 'maker' (or a CSV/Parquet file path)")
    func = DESIGNS.get(maker) or (load_function(maker, base_dir) if ":" in maker else None)
    if func is None:
        raise ReferenceError_(f"unknown design maker {maker!r}; library makers are: {', '.join(DESIGNS)}")
    return func(**kwargs)
