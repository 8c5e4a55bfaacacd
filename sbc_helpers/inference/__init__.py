"""Inference methods under test, as backends in one registry.

Every module in this package that defines ``BACKENDS`` adds its methods: adding a method is one
file (and its engine in ``engines/`` when it compiles the model once for every replicate). Params
validation (``settings_types``), the preflight (``check``), ``fit`` and the docs all read this
registry.
"""

import importlib
import pkgutil

from pydantic import ValidationError

from sbc_helpers.errors import ParamsError
from sbc_helpers.inference.base import Backend, Fit, MethodSettings, condition, posterior_from_draws, timed_fit


def _discover() -> dict[str, Backend]:
    found: dict[str, Backend] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name == "base" or info.ispkg:  # engines/: what the backends run, imported when they fit
            continue
        for backend in getattr(importlib.import_module(f"{__name__}.{info.name}"), "BACKENDS", []):
            found[backend.name] = backend
    return dict(sorted(found.items(), key=lambda kv: (kv[1].order, kv[0])))


BACKENDS: dict[str, Backend] = _discover()
METHODS = tuple(BACKENDS)


def backend(method: str) -> Backend:
    if method not in BACKENDS:
        raise ParamsError(f"unknown inference method {method!r}; choose one of {', '.join(BACKENDS)}")
    return BACKENDS[method]


def settings_types() -> tuple[type[MethodSettings], ...]:
    return tuple(b.Settings for b in BACKENDS.values())


def parse_settings(raw: dict, where: str = "inference") -> MethodSettings:
    """Validate ``{method: ..., **settings}`` against its method's schema; errors name the key
    under ``where``."""
    method = raw.get("method", "nuts")
    if method not in BACKENDS:
        raise ParamsError(f"{where}.method: unknown inference method {method!r}; choose one of {', '.join(BACKENDS)}")
    try:
        return backend(method).Settings(**{**raw, "method": method})
    except ValidationError as err:
        e = err.errors()[0]
        key = ".".join(str(p) for p in (where, *e["loc"]))
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"].removeprefix("Value error, ")
        raise ParamsError(f"{key}: {msg}") from None


def check(settings: MethodSettings, base_dir=None) -> None:
    """Raise a one-line error if the method cannot run in this environment."""
    backend(settings.method).check(settings, base_dir)


def check_model(settings: MethodSettings, model) -> None:
    """Raise a one-line error if the method cannot fit ``model``."""
    backend(settings.method).check_model(settings, model)


def fit(model, data, *, seed: int, method: str = "nuts", cores: int = 1, base_dir=None, **settings) -> Fit:
    """Approximate the posterior of ``model`` given ``data`` with ``method`` and its settings.

    Whatever the method, the posterior holds every free variable and every Deterministic of the
    model, with the model's dims, on (chain, draw).
    """
    parsed = parse_settings({"method": method, **settings})
    backend(method).check(parsed, base_dir)
    backend(method).check_model(parsed, model)
    return timed_fit(backend(method), model, data, seed=seed, settings=parsed, cores=cores, base_dir=base_dir)


def settings_markdown() -> str:
    """The docs' table of methods: each backend's settings keys with their defaults, whether its
    draws are independent, and what it is (generated here so the docs keep in step)."""
    rows = ["| method | settings (default) | independent draws | what it is |", "|---|---|---|---|"]
    for name, b in BACKENDS.items():
        fields = {k: f for k, f in b.Settings.model_fields.items() if k not in ("method", "label")}
        keys = ", ".join(f"`{k}`" + ("" if f.is_required() else f" ({f.default})") for k, f in fields.items())
        if "independent_draws" in fields:
            independent = "as `independent_draws` says"
        else:
            independent = "yes" if b.independent(b.Settings.model_construct()) else "no"
        rows.append(f"| `{name}` | {keys} | {independent} | {b.summary} |")
    return "\n".join(rows)


__all__ = ["BACKENDS", "METHODS", "Backend", "Fit", "MethodSettings", "backend", "check", "check_model", "condition",
           "fit", "parse_settings", "posterior_from_draws", "settings_markdown", "settings_types"]
