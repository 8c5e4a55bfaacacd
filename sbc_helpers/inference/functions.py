"""Posteriors from a user's function: ``exact`` (a known posterior: independent, exact draws) and
``custom`` (any approximation).

The function is called as ``function(model, rng, draws)`` (or with fewer arguments when it takes
fewer) on the *conditioned* model. It returns a dict of draws (``{name: array(draws, *shape)}``), a
posterior Dataset or a DataTree with a posterior group.
"""

import inspect
from collections.abc import Callable
from typing import Literal

from pydantic import Field

from sbc_helpers.inference.base import Backend, MethodSettings


class ExactSettings(MethodSettings):
    method: Literal["exact"] = "exact"
    function: str = Field(description="module:function or file.py:function of (model, rng, draws) returning the "
                          "exact posterior's draws")


class CustomSettings(MethodSettings):
    method: Literal["custom"] = "custom"
    function: str = Field(description="module:function or file.py:function of (model, rng, draws) returning "
                          "posterior draws")
    independent_draws: bool = Field(False, description="true when the draws are independent (no thinning or ESS "
                                    "check)")


def _call(func: Callable, model, rng, draws: int):
    """Call ``func(model, rng, draws)``, or with fewer arguments when it takes fewer."""
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return func(model, rng, draws)
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return func(model, rng, draws)
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return func(*(model, rng, draws)[:max(1, min(3, len(positional)))])


class Exact(Backend):
    name = "exact"
    order = 40
    Settings = ExactSettings
    summary = "a known posterior: function(model, rng, draws) -> {name: draws}"

    def check(self, settings, base_dir=None):
        from sbc_helpers.models.references import load_function

        load_function(settings.function, base_dir)

    def independent(self, settings):
        return getattr(settings, "independent_draws", True)

    def discrete(self, settings):
        return True

    def fit(self, model, data, *, seed, settings, cores=1, base_dir=None):
        import numpy as np
        import xarray as xr

        from sbc_helpers.inference.base import complete, condition, posterior_from_draws
        from sbc_helpers.models.references import load_function

        model = condition(model, data)
        result = _call(load_function(settings.function, base_dir), model, np.random.default_rng(seed), settings.draws)
        who = f"{self.name} function {settings.function!r}"
        if isinstance(result, xr.DataTree):
            return complete(model, result, who)
        if isinstance(result, xr.Dataset):
            return complete(model, xr.DataTree.from_dict({"posterior": result}), who)
        if isinstance(result, dict):
            missing = [rv.name for rv in model.free_RVs if rv.name not in result]
            if missing:
                raise ValueError(f"{who} returned no draws of free variable(s) {', '.join(missing)}")
            return posterior_from_draws(model, result)
        raise TypeError(f"{who} returned {type(result).__name__}; "
                        "expected a dict of draws, a posterior Dataset or a DataTree")


class Custom(Exact):
    name = "custom"
    order = 41
    Settings = CustomSettings
    summary = "any approximation: function(model, rng, draws) -> {name: draws}"


BACKENDS = [Exact(), Custom()]
