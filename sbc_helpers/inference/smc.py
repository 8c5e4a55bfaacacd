"""Sequential Monte Carlo (``pm.sample_smc``): particles tempered from the prior to the posterior,
compiled once per model (see ``engines/smc.py``).

The particles are not independent draws: each stage resamples them (copies of one particle become
neighbours) before moving them with a few Metropolis steps, so some copies survive to the end.
They are ranked as PyMC returns them, thinned evenly over the pooled chains, which spaces the kept
draws past runs of copies, and checked like MCMC draws: R-hat across the chains (independent SMC
runs, which disagree when one misses a mode) and ESS along the particles (which counts a run of
surviving copies as about one draw).
"""

from typing import Literal

from pydantic import Field

from sbc_helpers.inference.base import Backend, MethodSettings


class SmcSettings(MethodSettings):
    method: Literal["smc"] = "smc"
    draws: int = Field(1000, ge=2, description="particles per chain")
    chains: int = Field(2, ge=1, description="independent SMC runs")
    kernel: Literal["IMH", "MH"] = Field("IMH", description="independent or random-walk Metropolis mutations")
    threshold: float = Field(0.5, gt=0, lt=1, description="ESS fraction kept per stage: higher, more stages")
    correlation_threshold: float = Field(0.01, gt=0, lt=1, description="lower, more mutation steps per stage")

    @property
    def total_draws(self) -> int:
        return self.draws * self.chains


class Smc(Backend):
    name = "smc"
    order = 30
    Settings = SmcSettings
    summary = "sequential Monte Carlo (pm.sample_smc): particles per chain, chains run one after another"

    def independent(self, settings):
        return False

    def discrete(self, settings):
        return True

    def fit(self, model, data, *, seed, settings, cores=1, base_dir=None):
        from sbc_helpers.inference.engines.smc import sample_smc

        return sample_smc(model, data, seed=seed, draws=settings.draws, chains=settings.chains,
                          kernel=settings.kernel, threshold=settings.threshold,
                          correlation_threshold=settings.correlation_threshold)


BACKENDS = [Smc()]
