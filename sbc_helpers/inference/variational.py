"""Mean-field and full-rank ADVI (``pm.fit``), the compiled step reused across data sets."""

from typing import Literal

from pydantic import Field

from sbc_helpers.inference.base import Backend, MethodSettings


class AdviSettings(MethodSettings):
    method: Literal["advi"] = "advi"
    iterations: int = Field(20000, ge=1, description="optimisation steps before the draws")


class FullRankAdviSettings(AdviSettings):
    method: Literal["fullrank_advi"] = "fullrank_advi"


class Advi(Backend):
    name = "advi"
    order = 10
    Settings = AdviSettings
    summary = "mean-field ADVI: iterations of optimisation, then independent draws"

    def fit(self, model, data, *, seed, settings, cores=1, base_dir=None):
        from sbc_helpers.inference.engines.variational import fit_variational

        return fit_variational(model, data, kind=self.name, seed=seed, iterations=settings.iterations,
                               draws=settings.draws)


class FullRankAdvi(Advi):
    name = "fullrank_advi"
    order = 11
    Settings = FullRankAdviSettings
    summary = "full-rank ADVI: as advi, with a full covariance"


BACKENDS = [Advi(), FullRankAdvi()]
