"""What every inference backend shares: its settings schema, the checks it runs before a campaign,
and the posterior layout it must return.

A backend is one object per method (``nuts``, ``advi``, ...) in the registry (``inference/__init__``).
It declares:

- ``Settings``: its keys in a params file (a pydantic model; unknown keys are errors);
- ``requirements(settings)``: the packages it imports, checked before any replicate runs;
- ``independent(settings)``: whether its draws are independent. MCMC draws are autocorrelated, so
  they are thinned evenly over the pooled chains and checked with R-hat and ESS; independent draws
  (exact, variational) need neither, and those diagnostics are not computed for them;
- ``discrete(settings)``: whether it samples discrete free variables (a switchpoint, a count);
  a model that has some is refused before any replicate runs by a method that does not;
- ``fit(model, data, seed, settings, cores, base_dir)``: a DataTree whose ``posterior`` group has
  (chain, draw) dims; ``fit`` below completes it with the model's Deterministics.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from sbc_helpers.errors import MethodUnavailable

if TYPE_CHECKING:
    import numpy as np
    import pymc as pm
    import xarray as xr

Label = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=80)]

PIP_NAMES = {"pymc_extras": "pymc-extras"}


class MethodSettings(BaseModel):
    """Keys every method takes."""

    model_config = ConfigDict(extra="forbid")

    method: str = Field(description="the method under test (default: nuts)")
    label: Label | None = Field(None, description="names the method in output folders (default: the method's own "
                                "name)")
    draws: int = Field(1000, ge=1, description="posterior draws (per chain for MCMC)")

    @property
    def total_draws(self) -> int:
        return self.draws


class Backend:
    """An inference method under test."""

    name: ClassVar[str]
    Settings: ClassVar[type[MethodSettings]]
    summary: ClassVar[str] = ""  # one line for the docs
    order: ClassVar[int] = 50  # where it is listed

    def requirements(self, settings: MethodSettings) -> tuple[str, ...]:
        """Import names of the packages the method needs."""
        return ()

    def independent(self, settings: MethodSettings) -> bool:
        return True

    def discrete(self, settings: MethodSettings) -> bool:
        return False

    def label(self, settings: MethodSettings) -> str:
        return settings.label or self.name

    def what(self, settings: MethodSettings) -> str:
        """The method as error messages name it."""
        return f"sampler {settings.sampler!r}" if hasattr(settings, "sampler") else f"method {self.name!r}"

    def check(self, settings: MethodSettings, base_dir=None) -> None:
        """Raise a one-line error if the method cannot run here (cheap: nothing is compiled)."""
        missing = [p for p in self.requirements(settings) if importlib.util.find_spec(p) is None]
        if missing:
            pip = " ".join(PIP_NAMES.get(p, p) for p in missing)
            raise MethodUnavailable(f"{self.what(settings)} needs {' and '.join(missing)}, which is not installed: "
                                    f"pip install {pip}")

    def check_model(self, settings: MethodSettings, model: pm.Model) -> None:
        """Raise a one-line error if the method cannot fit ``model`` (its discrete free variables)."""
        from pymc.vartypes import discrete_types

        discrete = [rv.name for rv in model.free_RVs if rv.dtype in discrete_types]
        if discrete and not self.discrete(settings):
            raise MethodUnavailable(
                f"{self.what(settings)} samples continuous variables only, and {', '.join(map(repr, discrete))} "
                f"{'is' if len(discrete) == 1 else 'are'} discrete: use {{method: nuts, sampler: pymc}} (NUTS with "
                "the Metropolis-type steps pm.sample assigns to discrete variables) or {method: smc}")

    def fit(self, model: pm.Model, data: dict[str, np.ndarray], *, seed: int, settings: MethodSettings,
            cores: int = 1, base_dir=None) -> xr.DataTree:
        raise NotImplementedError


@dataclass
class Fit:
    """A posterior approximation and what it cost."""

    idata: xr.DataTree
    seconds: float
    independent: bool = False


def condition(model: pm.Model, data: dict[str, np.ndarray]) -> pm.Model:
    """A copy of ``model`` with its observed variables set to ``data``.

    Data arrive in each observed variable's dtype: counts archived as floats (netCDF, a
    simulator's output) become integers again when they are whole numbers, which ``pm.observe``
    requires of a discrete variable; anything else is a one-line error.
    """
    import pymc as pm

    from sbc_helpers.compiled.shared import in_dtype

    observed = {rv.name: rv for rv in model.observed_RVs}
    return pm.observe(model, {k: (in_dtype(observed[k], v) if k in observed else v) for k, v in data.items()})


def posterior_from_draws(model: pm.Model, draws: dict[str, np.ndarray]) -> xr.DataTree:
    """Wrap ``{name: array(n_draws, *shape)}`` as a one-chain posterior with the model's dims.

    ``draws`` needs every free variable of ``model``; Deterministics it lacks are computed from them.
    Keys that are not variables of the model are dropped.
    """
    import numpy as np
    import xarray as xr

    from sbc_helpers.models.values import as_dataset

    one_chain = {name: np.asarray(values)[None, ...] for name, values in draws.items() if name in model.named_vars}
    return complete(model, xr.DataTree.from_dict({"posterior": as_dataset(model, one_chain, ("chain", "draw"))}))


def complete(model: pm.Model, idata: xr.DataTree, who: str = "the posterior") -> xr.DataTree:
    """Check ``idata``'s posterior has every free variable; add the Deterministics it lacks."""
    import xarray as xr

    from sbc_helpers.models.values import with_deterministics

    if "posterior" not in idata.children:
        raise ValueError(f"{who} has no posterior group")
    posterior = idata["posterior"].to_dataset()
    missing = [rv.name for rv in model.free_RVs if rv.name not in posterior]
    if missing:
        raise ValueError(f"{who} has no draws of free variable(s) {', '.join(missing)}")
    for rv in model.free_RVs:
        if posterior[rv.name].dims[:2] != ("chain", "draw"):
            raise ValueError(f"{who}: draws of {rv.name!r} must lead with (chain, draw) dims, got {posterior[rv.name].dims}")
    if all(d.name in posterior for d in model.deterministics):
        return idata
    idata = idata.copy()
    idata["posterior"] = xr.DataTree(with_deterministics(model, posterior, ("chain", "draw")))
    return idata


def timed_fit(backend: Backend, model: pm.Model, data: dict, *, seed: int, settings: MethodSettings,
              cores: int = 1, base_dir=None) -> Fit:
    """Run ``backend`` and complete its posterior; the seconds are the fit's alone."""
    start = time.perf_counter()
    idata = backend.fit(model, data, seed=seed, settings=settings, cores=cores, base_dir=base_dir)
    idata = complete(condition(model, data), idata, f"method {backend.name!r}")
    return Fit(idata=idata, seconds=time.perf_counter() - start, independent=backend.independent(settings))
