"""Draws of the value variables (transformed scale) as draws of every free variable on its own scale
and every Deterministic, by one compiled function per graph: for the methods that sample the value
variables themselves (SMC, Pathfinder)."""

from collections.abc import Callable

import numpy as np
import pymc as pm
import pytensor

from sbc_helpers.compiled.cache import CACHE, graph_key, load_data


def constrained_draws(conditioned: pm.Model, shared: list, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Draws of the value variables (transformed scale, draws on the first axis) as draws of every
    free variable on its own scale and every Deterministic, by one compiled function per graph.

    ``conditioned`` and ``shared`` come from ``shared_condition``: a Deterministic may read the data.
    For methods that sample the value variables themselves (SMC, Pathfinder, Laplace)."""
    from pymc.util import get_default_varnames

    outputs = list(get_default_varnames(conditioned.unobserved_value_vars, include_transformed=False))
    inputs_ = conditioned.value_vars
    key, inputs = graph_key("constrain", conditioned, outputs, inputs_, shared)
    function, compiled_inputs = CACHE.get(key, outputs, inputs, lambda: _batched_function(inputs_, outputs))
    load_data(compiled_inputs, len(inputs_), shared)
    arrays = [np.asarray(values[v.name], dtype=v.type.dtype) for v in inputs_]
    return dict(zip([v.name for v in outputs], function(*arrays), strict=True))


def _batched_function(inputs: list, outputs: list) -> Callable:
    """``outputs`` of ``inputs`` evaluated for a batch of inputs (batch on the first axis): one
    vectorized function when every op of the graph vectorizes, else a loop over the batch."""
    import pytensor.tensor as pt
    from pytensor.graph.replace import vectorize_graph

    batched = [pt.tensor(dtype=v.type.dtype, shape=(None, *v.type.shape), name=v.name) for v in inputs]
    try:
        vectorized = vectorize_graph(outputs, replace=dict(zip(inputs, batched, strict=True)))
        return pytensor.function(batched, vectorized, on_unused_input="ignore")
    except NotImplementedError:
        single = pytensor.function(inputs, outputs, on_unused_input="ignore")

        def loop(*arrays):
            rows = [single(*(a[i] for a in arrays)) for i in range(len(arrays[0]))]
            return [np.stack(column) for column in zip(*rows, strict=True)]

        return loop

