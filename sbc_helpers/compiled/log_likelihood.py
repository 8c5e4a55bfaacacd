"""The log-likelihood of a replicate's simulated data at each kept posterior draw and at the true
values (the ``log_lik`` test quantity), by one compiled function per model graph."""

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor
from pytensor.graph.traversal import graph_inputs

from sbc_helpers.compiled.cache import CACHE, PYTHON_MODE, graph_key
from sbc_helpers.compiled.shared import SHARED_PREFIX, in_dtype, shared_condition
from sbc_helpers.errors import one_line


@dataclass
class _LogLikelihood:
    """A model's compiled log-likelihood: vectorised over points, and point by point where the
    vectorised function fails or disagrees (``vectorised`` is then None)."""

    shared: dict  # observed variable's name -> the shared variable holding its data
    value_names: list  # (free variable's name, dtype), in the functions' input order
    vectorised: Callable | None
    per_point: Callable | None  # compiled when first needed
    build_per_point: Callable[[], Callable]
    checked: bool = False


def log_likelihood_totals(model: pm.Model, data: dict[str, np.ndarray], points: dict[str, np.ndarray],
                          skip_rows: int = 0) -> np.ndarray:
    """Total log-likelihood of ``data`` at each point: ``points`` maps every free variable to its
    values (constrained scale) with the points on the first axis; the first ``skip_rows`` rows of
    each observed variable are left out.

    One compiled function per model graph, evaluated on all points in one call (the log-likelihood
    vectorised over a leading points axis). The function is found by the model's own graph, as
    ``simulation.prior.prior_draw`` finds its function: building the log-likelihood graph to compare it costs more
    than evaluating it.

    Vectorising a graph can break what evaluates point by point (PyTensor refuses to broadcast at
    run time a length it does not know to be 1, as in ``pm.AR`` with a scalar coefficient on shared
    data). So the first evaluation of each compiled function in a process (the preflight's, a
    kernel's first replicate's) compares it with a point-by-point evaluation of the first and last
    points; where it fails or differs, this model's log-likelihood is evaluated point by point from
    then on (a debug line says so)."""
    observed = {rv.name: rv for rv in model.observed_RVs}
    data = {k: in_dtype(observed[k], v) if k in observed else v for k, v in data.items()}
    names = sorted(v.name for v in [*model.basic_RVs, *model.deterministics])
    outputs = [model[name] for name in names]
    key, inputs = graph_key("log_likelihood", model, outputs, settings=(
        tuple((k, v.dtype.str, v.shape) for k, v in sorted(data.items())), skip_rows))
    entry, _ = CACHE.get(key, outputs, inputs, lambda: _build_log_likelihood(model, data, skip_rows))
    for name, variable in entry.shared.items():
        variable.set_value(data[name], borrow=True)
    arrays = [np.asarray(points[name], dtype=dtype) for name, dtype in entry.value_names]
    if entry.vectorised is not None:
        try:
            totals = np.asarray(entry.vectorised(*arrays), dtype=float)
            problem = None if entry.checked else _disagreement(entry, arrays, totals)
        except Exception as err:
            problem = one_line(err)
        entry.checked = True
        if problem is None:
            return totals
        logging.getLogger("sbc").debug("log-likelihood of %s: the vectorised function %s; evaluating point by point",
                                       ", ".join(sorted(observed)), problem)
        entry.vectorised = None
    return _per_point(entry, arrays)


def _build_log_likelihood(model: pm.Model, data: dict[str, np.ndarray], skip_rows: int) -> _LogLikelihood:
    from pymc.model.transform.conditioning import remove_value_transforms
    from pytensor.graph.replace import vectorize_graph

    conditioned, _ = shared_condition(model, data)
    untransformed = remove_value_transforms(conditioned)
    if skip_rows:
        terms = untransformed.logp(vars=untransformed.observed_RVs, sum=False)
        total = sum(term[skip_rows:].sum() for term in terms)
    else:
        total = untransformed.logp(vars=untransformed.observed_RVs)
    # remove_value_transforms clones the graph: find the shared data variables it now uses
    shared = {v.name[len(SHARED_PREFIX):]: v for v in graph_inputs([total]) if (v.name or "").startswith(SHARED_PREFIX)}
    values = untransformed.value_vars
    # TensorType(...)(name) and not pt.tensor(name=...), which reads a name such as Bambi's
    # "1|farm_sigma_log__" as a dtype string and fails
    batched = [pytensor.tensor.TensorType(v.type.dtype, shape=(None, *v.type.shape))(name=v.name) for v in values]
    value_names = [(untransformed.values_to_rvs[v].name, v.type.dtype) for v in values]

    def compile_(inputs, outs):
        return untransformed.compile_fn(inputs=inputs, outs=outs, on_unused_input="ignore", point_fn=False,
                                        mode=PYTHON_MODE)

    try:
        vectorised = compile_(batched, vectorize_graph(total, replace=dict(zip(values, batched, strict=True))))
    except Exception as err:
        logging.getLogger("sbc").debug("log-likelihood: the graph does not vectorise (%s); evaluating point by point",
                                       one_line(err))
        vectorised = None
    return _LogLikelihood(shared, value_names, vectorised, None, lambda: compile_(values, total))


def _per_point(entry: _LogLikelihood, arrays: list[np.ndarray]) -> np.ndarray:
    if entry.per_point is None:
        entry.per_point = entry.build_per_point()
    return np.array([entry.per_point(*(a[i] for a in arrays)) for i in range(len(arrays[0]))], dtype=float)


def _disagreement(entry: _LogLikelihood, arrays: list[np.ndarray], totals: np.ndarray) -> str | None:
    """How the vectorised ``totals`` differ from the point-by-point values at the first and last
    points (None when they agree to rounding)."""
    n = len(arrays[0])
    if totals.shape != (n,):
        return f"gave shape {totals.shape} for {n} points"
    ends = sorted({0, n - 1})
    expected = _per_point(entry, [a[ends] for a in arrays])
    if np.allclose(totals[ends], expected, rtol=1e-9, atol=1e-9, equal_nan=True):
        return None
    return f"gave {totals[ends]} where the point-by-point function gives {expected}"

