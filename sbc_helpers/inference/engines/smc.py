"""Sequential Monte Carlo (``pm.sample_smc``), its compiled functions reused for every replicate's data.

``pm.sample_smc`` compiles on every call: the prior and likelihood log-densities of its kernel, the
prior draw of the first population, the initial point, and one trace function per chain. Here the
kernel is built once per graph on the shared-data model (its log-densities read the data from
shared variables), the prior draw is compiled once and reseeded, and the final particles are
moved to the constrained scale by ``constrain.constrained_draws``. Chains run one after another in
this process, each seeded as ``pm.sample_smc`` seeds it, so a replicate gives the draws
``pm.sample_smc(..., cores=1)`` gives on the same shared-data model (tested).

The particles are returned in PyMC's order: after the last resampling (systematic, so the copies of
one particle are neighbours) and the last mutation steps.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pymc as pm
import xarray as xr
from pytensor.tensor.random.type import RandomGeneratorType

from sbc_helpers.compiled.cache import CACHE, graph_key, load_data
from sbc_helpers.compiled.shared import shared_condition
from sbc_helpers.inference.engines.constrain import constrained_draws


@dataclass
class _Smc:
    kernel: object  # an SMC kernel built on the first replicate's shared-data model
    prior: object  # the compiled draw of the first population (the kernel's prior expression)
    prior_rngs: list  # its random generators


def _kernel_class(kind: str) -> type:
    """PyMC's SMC kernel ``kind`` with the first population drawn by a function compiled once."""
    from pymc.smc.kernels import IMH, MH

    base = {"IMH": IMH, "MH": MH}[kind]

    class Reused(base):
        prior = None  # set after construction: (compiled function, its generators)

        def initialize_population(self):
            # what pm.draw(self._prior_expression, draws, random_seed=self.rng) does, compiled once
            from pymc.pytensorf import reseed_rngs
            from pymc.util import _get_seeds_per_chain

            function, rngs = self.prior
            (seed,) = _get_seeds_per_chain(self.rng, 1)
            reseed_rngs(rngs, seed)
            values = [np.stack(column) for column in zip(*(function() for _ in range(self.draws)), strict=True)]
            return dict(zip(self._prior_var_names, values, strict=True))

        def set_rng(self, rng):
            # the log-densities draw nothing unless a model's logp is random: copy them only then
            functions = (self.prior_logp_func, self.likelihood_logp_func)
            if any(isinstance(v.type, RandomGeneratorType) for f in functions for v in f.get_shared()):
                return super().set_rng(rng)
            self.rng = rng

    Reused.__name__ = base.__name__
    return Reused


def _build(conditioned: pm.Model, seed: int, draws: int, kind: str, threshold: float,
           correlation_threshold: float) -> _Smc:
    from pymc.pytensorf import collect_default_updates, compile

    with conditioned:
        kernel = _kernel_class(kind)(draws=draws, model=conditioned, random_seed=seed, threshold=threshold,
                                     correlation_threshold=correlation_threshold, compile_kwargs={})
        prior = compile([], kernel._prior_expression, random_seed=False)
    rngs = list(collect_default_updates(inputs=[], outputs=kernel._prior_expression))
    kernel.prior = (prior, rngs)
    return _Smc(kernel=kernel, prior=prior, prior_rngs=rngs)


def sample_smc(model: pm.Model, data: dict[str, np.ndarray], *, seed: int, draws: int, chains: int, kernel: str,
               threshold: float, correlation_threshold: float) -> xr.DataTree:
    """``pm.sample_smc(draws, chains=chains, kernel=kernel, threshold=threshold, random_seed=seed,
    cores=1)`` on ``model`` given ``data``, reusing the compiled kernel across data sets."""
    from arviz_base import from_dict
    from pymc.backends.arviz import coords_and_dims_for_inferencedata
    from pymc.util import _get_seeds_per_chain
    from pymc.vartypes import discrete_types

    conditioned, shared = shared_condition(model, data)
    outputs = [conditioned.logp(), *conditioned.unobserved_value_vars]
    key, inputs = graph_key("smc", conditioned, outputs, conditioned.value_vars, shared,
                            settings=(draws, kernel, float(threshold), float(correlation_threshold)))
    rngs = [np.random.default_rng(s) for s in _get_seeds_per_chain(seed, chains)]
    kernel_seed = rngs[0].integers(2**30)  # pm.sample_smc seeds its kernel with this draw
    entry, compiled_inputs = CACHE.get(
        key, outputs, inputs, lambda: _build(conditioned, kernel_seed, draws, kernel, threshold, correlation_threshold))
    load_data(compiled_inputs, len(conditioned.value_vars), shared)
    smc = entry.kernel
    start = time.perf_counter()
    particles, stages, marginal = [], [], []
    for rng in rngs:
        smc.initialize(None, rng)
        stage = 0
        while smc.beta < 1:
            smc.update_beta_and_weights()
            smc.step()
            stage += 1
        particles.append(smc.tempered_posterior.copy())
        stages.append(stage)
        marginal.append(smc.log_marginal_likelihood)
    values, offset = {}, 0
    pooled = np.concatenate(particles)
    for variable in smc.variables:
        shape, size = smc.var_info[variable.name]
        block = pooled[:, offset:offset + size].reshape(len(pooled), *shape)
        values[variable.name] = np.round(block).astype(variable.dtype) if variable.dtype in discrete_types else block
        offset += size
    draws_by_name = constrained_draws(conditioned, shared, values)
    posterior = {k: v.reshape(chains, draws, *v.shape[1:]) for k, v in draws_by_name.items()}
    coords, dims = coords_and_dims_for_inferencedata(conditioned)
    idata = from_dict({"posterior": posterior}, coords=coords, dims=dims, sample_dims=["chain", "draw"])
    idata["sample_stats"] = xr.DataTree(xr.Dataset({
        "log_marginal_likelihood": ("chain", np.asarray(marginal, dtype=float)),
        "stages": ("chain", np.asarray(stages)),
    }))
    idata["posterior"].attrs.update({"sampling_time": time.perf_counter() - start, "inference_library": "pymc",
                                     "smc_kernel": kernel})
    return idata
