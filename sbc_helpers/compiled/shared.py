"""A model's data in shared variables: the observed variables' data as PyTensor shared variables,
so one compiled function serves every replicate's data (see ``cache``)."""

import numpy as np
import pymc as pm
import pytensor

SHARED_PREFIX = "sbc_observed__"


def in_dtype(rv, values) -> np.ndarray:
    """Data in the observed variable ``rv``'s dtype (whole-number floats become integers)."""
    values = np.asarray(values)
    dtype = np.dtype(rv.type.dtype)
    if np.issubdtype(dtype, np.integer) and not np.issubdtype(values.dtype, np.integer):
        if not np.all(values == np.round(values)):
            raise ValueError(f"the data for {rv.name!r} are not whole numbers; the variable is discrete")
        return np.round(values).astype(dtype)
    return values.astype(dtype, copy=False) if np.issubdtype(dtype, np.floating) else values


def shared_condition(model: pm.Model, data: dict[str, np.ndarray]) -> tuple[pm.Model, list]:
    """``model`` conditioned on ``data`` held in shared variables (one per observed variable)."""
    observed = {rv.name: rv for rv in model.observed_RVs}
    unknown = [k for k in data if k not in observed]
    if unknown:
        raise ValueError(f"data given for variables that are not observed variables of the model: {', '.join(unknown)}")
    shared = [pytensor.shared(in_dtype(observed[k], v), name=SHARED_PREFIX + k) for k, v in data.items()]
    return pm.observe(model, {s.name[len(SHARED_PREFIX):]: s for s in shared}), shared
