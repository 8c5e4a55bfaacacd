"""NUTS through PyMC's samplers: nutpie (compiled once per model, see ``models/compiled.py``),
PyMC's own, numpyro and blackjax."""

from typing import Literal

from pydantic import Field

from sbc_helpers.inference.base import Backend, MethodSettings

SAMPLER_PACKAGES = {"nutpie": ("nutpie",), "pymc": (), "numpyro": ("numpyro", "jax"), "blackjax": ("blackjax", "jax")}


class NutsSettings(MethodSettings):
    method: Literal["nuts"] = "nuts"
    sampler: Literal["nutpie", "pymc", "numpyro", "blackjax"] = "nutpie"
    tune: int = Field(1000, ge=0)
    chains: int = Field(2, ge=1)
    target_accept: float = Field(0.8, gt=0, lt=1)

    @property
    def total_draws(self) -> int:
        return self.draws * self.chains


class Nuts(Backend):
    name = "nuts"
    order = 0
    Settings = NutsSettings
    summary = "the No-U-Turn sampler; draws per chain, thinned evenly over the pooled chains"

    def requirements(self, settings):
        return SAMPLER_PACKAGES[settings.sampler]

    def independent(self, settings):
        return False

    def label(self, settings):
        return settings.label or (self.name if settings.sampler == "nutpie" else f"{self.name}-{settings.sampler}")

    def fit(self, model, data, *, seed, settings, cores=1, base_dir=None):
        import pymc as pm

        from sbc_helpers.inference.base import condition
        from sbc_helpers.models.compiled import sample_nutpie

        common = {"draws": settings.draws, "tune": settings.tune, "chains": settings.chains,
                  "target_accept": settings.target_accept}
        if settings.sampler == "nutpie":
            return sample_nutpie(model, data, seed=seed, cores=cores, **common)
        return pm.sample(**common, cores=cores, nuts_sampler=settings.sampler, random_seed=seed, progressbar=False,
                         compute_convergence_checks=False, quiet=True, model=condition(model, data))


BACKENDS = [Nuts()]
