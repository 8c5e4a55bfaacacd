"""The Laplace approximation (pymc-extras' ``fit_laplace``): a Gaussian on the unconstrained scale,
centred at the mode of the log-density without the Jacobian of the transforms, with the inverse
Hessian there as covariance (compiled once per model, see ``engines/laplace.py``).

Its draws are independent: no R-hat or ESS. The covariance is the inverse of the Hessian computed at
the mode whatever the optimiser (``fit_laplace`` takes BFGS's running estimate, which can be the
identity; see ``engines/laplace._laplace_moments``).
"""

from typing import Literal

from pydantic import Field

from sbc_helpers.inference.base import Backend, MethodSettings


class LaplaceSettings(MethodSettings):
    method: Literal["laplace"] = "laplace"
    optimize_method: Literal["BFGS", "L-BFGS-B", "Newton-CG", "trust-ncg", "trust-krylov", "trust-exact"] = Field(
        "BFGS", description="the SciPy optimiser that finds the mode")


class Laplace(Backend):
    name = "laplace"
    order = 25
    Settings = LaplaceSettings
    summary = "pymc-extras' Laplace approximation: a Gaussian at the mode, then independent draws"

    def requirements(self, settings):
        return ("pymc_extras",)

    def fit(self, model, data, *, seed, settings, cores=1, base_dir=None):
        from sbc_helpers.inference.engines.laplace import fit_laplace

        return fit_laplace(model, data, seed=seed, draws=settings.draws, optimize_method=settings.optimize_method)


BACKENDS = [Laplace()]
