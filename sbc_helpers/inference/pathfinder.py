"""Pathfinder (pymc-extras): quasi-Newton paths from jittered starts, then importance sampling of
their Gaussian approximations (compiled once per model, see ``engines/pathfinder.py``).

Its draws are independent: no chain, so no R-hat or ESS. With ``importance_sampling: psis`` they
are drawn without replacement from the paths' pooled draws (with replacement, so repeated, when too
few have weight); ``psir`` always draws with replacement. Repeated draws tie, and ranks break ties
at random.
"""

from typing import Literal

from pydantic import Field

from sbc_helpers.inference.base import Backend, MethodSettings


class PathfinderSettings(MethodSettings):
    method: Literal["pathfinder"] = "pathfinder"
    num_paths: int = Field(4, ge=1, description="independent L-BFGS paths")
    draws_per_path: int = Field(1000, ge=1, description="draws from each path's approximation, pooled for importance "
                                "sampling")
    num_elbo_draws: int = Field(10, ge=1, description="draws per step to pick each path's best approximation")
    jitter: float = Field(2.0, ge=0, description="paths start at the initial point plus uniform(-jitter, jitter)")
    maxiter: int = Field(1000, ge=1, description="L-BFGS iterations per path")
    importance_sampling: Literal["psis", "psir", "identity"] = Field("psis", description="how the pooled draws are "
                                                                     "resampled")


class Pathfinder(Backend):
    name = "pathfinder"
    order = 20
    Settings = PathfinderSettings
    summary = "pymc-extras' multi-path Pathfinder, paths run one after another, then importance sampling"

    def requirements(self, settings):
        return ("pymc_extras",)

    def fit(self, model, data, *, seed, settings, cores=1, base_dir=None):
        from sbc_helpers.inference.engines.pathfinder import fit_pathfinder

        return fit_pathfinder(model, data, seed=seed, draws=settings.draws, num_paths=settings.num_paths,
                              draws_per_path=settings.draws_per_path, num_elbo_draws=settings.num_elbo_draws,
                              jitter=settings.jitter, maxiter=settings.maxiter,
                              importance_sampling=settings.importance_sampling)


BACKENDS = [Pathfinder()]
