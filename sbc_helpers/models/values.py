"""A model's variables' values as xarray Datasets with the model's dims and coords, Deterministics
computed from the free variables' values by the model's own graph: for true values and for draws
alike."""

import numpy as np
import pymc as pm
import xarray as xr


def as_dataset(model: pm.Model, values: dict[str, np.ndarray], sample_dims: tuple[str, ...] = (),
               keep_dtype: bool = False) -> xr.Dataset:
    """A Dataset of ``values`` with the model's dims and coords; ``sample_dims`` lead each array.
    Values become floats unless ``keep_dtype``."""
    dims_of = model.named_vars_to_dims
    data = {}
    for name, value in values.items():
        value = np.asarray(value) if keep_dtype else np.asarray(value, dtype=float)
        n_own = value.ndim - len(sample_dims)
        own = list(dims_of.get(name, ()) or ())
        own = own if len(own) == n_own else [f"{name}_dim_{i}" for i in range(n_own)]
        data[name] = ((*sample_dims, *own), value)
    ds = xr.Dataset(data)
    coords = {k: list(v) for k, v in model.coords.items() if v is not None and k in ds.dims}
    return ds.assign_coords(coords)


def with_deterministics(model: pm.Model, values: xr.Dataset, sample_dims: tuple[str, ...] = ()) -> xr.Dataset:
    """``values`` (every free variable of ``model``) plus the model's Deterministics it lacks,
    evaluated at those values by the model's own graph (``pm.compute_deterministics``).

    ``sample_dims`` are the draw dims of ``values``: ``("chain", "draw")`` for posterior draws,
    ``()`` for one true value. Pass the *conditioned* model when a Deterministic reads observed data.
    """
    missing = [d.name for d in model.deterministics if d.name not in values]
    if not missing:
        return values
    free = [rv.name for rv in model.free_RVs]
    absent = [name for name in free if name not in values]
    if absent:
        raise ValueError(f"cannot compute Deterministics {', '.join(missing)}: no value for free "
                         f"variable(s) {', '.join(absent)}")
    if tuple(sample_dims) not in ((), ("chain", "draw")):
        raise ValueError(f"sample_dims must be () or ('chain', 'draw'), got {sample_dims}")
    points = values[free] if sample_dims else values[free].expand_dims(chain=1, draw=1)
    computed = pm.compute_deterministics(points, var_names=missing, model=model, progressbar=False).drop_attrs()
    if not sample_dims:
        computed = computed.isel(chain=0, draw=0, drop=True)
    return xr.merge([values, computed], compat="override", join="left")
