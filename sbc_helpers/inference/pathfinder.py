"""Pathfinder (pymc-extras): quasi-Newton paths, importance-resampled draws."""

from typing import Literal

from sbc_helpers.inference.base import Backend, MethodSettings


class PathfinderSettings(MethodSettings):
    method: Literal["pathfinder"] = "pathfinder"


class Pathfinder(Backend):
    name = "pathfinder"
    order = 20
    Settings = PathfinderSettings
    summary = "pymc-extras' Pathfinder"

    def requirements(self, settings):
        return ("pymc_extras",)

    def fit(self, model, data, *, seed, settings, cores=1, base_dir=None):
        import pymc_extras as pmx

        from sbc_helpers.inference.base import condition

        return pmx.fit(method="pathfinder", model=condition(model, data), num_draws=settings.draws,
                       random_seed=seed, progressbar=False)


BACKENDS = [Pathfinder()]
