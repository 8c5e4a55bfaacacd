"""NUTS through PyMC's samplers: nutpie and PyMC's own (compiled once per model, see
``engines/nuts.py``), numpyro and blackjax (compiled once per model, see ``engines/nuts_jax.py``).

nutpie runs its chains in parallel on the worker's cores; PyMC's sampler runs them one after
another in the worker; numpyro and blackjax run them as ``chain_method`` says, one JAX device per
chain (``parallel``, PyMC's default) or vectorized on one device (``vectorized``, for a GPU).
"""

from typing import Literal

from pydantic import Field, model_validator

from sbc_helpers.inference.base import Backend, MethodSettings

SAMPLER_PACKAGES = {"nutpie": ("nutpie",), "pymc": (), "numpyro": ("numpyro", "jax"), "blackjax": ("blackjax", "jax")}


class NutsSettings(MethodSettings):
    method: Literal["nuts"] = "nuts"
    sampler: Literal["nutpie", "pymc", "numpyro", "blackjax"] = Field("nutpie", description="the NUTS implementation")
    tune: int = Field(1000, ge=0, description="warm-up draws per chain")
    chains: int = Field(2, ge=1, description="chains per fit")
    target_accept: float = Field(0.8, gt=0, lt=1, description="target acceptance rate of the step size's adaptation")
    chain_method: Literal["parallel", "vectorized"] = Field("parallel", description="numpyro, blackjax: chains by "
                                                            "jax.pmap (one per device) or jax.vmap (one device)")

    @model_validator(mode="after")
    def _jax_only(self) -> "NutsSettings":
        if self.chain_method != "parallel" and self.sampler not in ("numpyro", "blackjax"):
            raise ValueError(f"chain_method applies to the numpyro and blackjax samplers, not {self.sampler!r}")
        return self

    @property
    def total_draws(self) -> int:
        return self.draws * self.chains


class Nuts(Backend):
    name = "nuts"
    order = 0
    Settings = NutsSettings
    summary = "the No-U-Turn sampler (nutpie, pymc, numpyro or blackjax): draws per chain, thinned evenly over the pooled chains"

    def requirements(self, settings):
        return SAMPLER_PACKAGES[settings.sampler]

    def independent(self, settings):
        return False

    def discrete(self, settings):
        return settings.sampler == "pymc"

    def label(self, settings):
        return settings.label or (self.name if settings.sampler == "nutpie" else f"{self.name}-{settings.sampler}")

    def fit(self, model, data, *, seed, settings, cores=1, base_dir=None):
        from sbc_helpers.inference.engines.nuts import sample_nutpie

        common = {"draws": settings.draws, "tune": settings.tune, "chains": settings.chains,
                  "target_accept": settings.target_accept}
        if settings.sampler == "nutpie":
            return sample_nutpie(model, data, seed=seed, cores=cores, **common)
        if settings.sampler in ("numpyro", "blackjax"):
            from sbc_helpers.inference.engines.nuts_jax import sample_jax_nuts

            return sample_jax_nuts(model, data, sampler=settings.sampler, seed=seed,
                                   chain_method=settings.chain_method, **common)
        from sbc_helpers.inference.engines.nuts import sample_pymc_nuts

        return sample_pymc_nuts(model, data, seed=seed, **common)


BACKENDS = [Nuts()]
