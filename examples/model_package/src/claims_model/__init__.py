"""Insurance claim counts per policy: a Poisson rate per region, scaled by each policy's exposure."""

from claims_model.model import PRIOR, build, exact_posterior, load_policies

__all__ = ["PRIOR", "build", "exact_posterior", "load_policies"]
