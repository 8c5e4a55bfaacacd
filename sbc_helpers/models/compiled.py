"""Compiled: compile a model's functions once and reuse them for every replicate's data.

SBC fits one model to many simulated data sets. ``pm.observe`` with arrays makes the data constants
of the compiled log-density, so every replicate compiles anew, which on a small model is most of a
fit. Here the observed data are shared variables instead, and a function compiled for one replicate
serves every later one in the same process with only its data swapped. Graphs are matched with PyTensor's ``equal_computations`` (structure, ops and
constants such as the design's covariates), not by names, so a different model or design compiles
its own function. The functions live as long as the process: in a campaign, as long as the warm
kernel (see ``kernels.py``).

A replicate always runs a function compiled from the shared-data graph, whether compiled now or
reused, so its draws do not depend on which replicates ran before it in the same kernel.
"""

import hashlib
import logging
from collections import Counter
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor
import xarray as xr
from pytensor.compile.mode import Mode
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import equal_computations
from pytensor.graph.traversal import graph_inputs
from pytensor.tensor.random.type import RandomType

from sbc_helpers.errors import one_line
from sbc_helpers.setup import configure

SHARED_PREFIX = "sbc_observed__"

PYTHON_MODE = Mode(linker="py", optimizer="fast_run").excluding("fusion")
"""PyTensor's Python linker with its usual rewrites (stabilisation included) but no elementwise
fusion, whose fused ops are slow in Python: for functions that only evaluate, where compiling Numba
code costs seconds and saves microseconds (the log-likelihood of a replicate's kept draws, the
preflight's checks). Their values agree with Numba's to rounding, and no draw depends on them."""


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


@dataclass
class _Entry:
    key: tuple
    outputs: list
    inputs: list  # value variables, then the shared data variables the function was compiled with
    function: object


class FunctionCache:
    """Compiled functions of recently seen graphs, most recent last (a small LRU list)."""

    def __init__(self, size: int = 32):
        self.size = size
        self.entries: list[_Entry] = []
        self.hits: Counter = Counter()  # by kind: "nutpie", "prior", "log_likelihood"
        self.misses: Counter = Counter()

    def get(self, key: tuple, outputs: list, inputs: list, build: Callable[[], object]) -> tuple[object, list]:
        """The function compiled for a graph equal to ``outputs`` (of ``inputs``), building it if new.

        Returns the function and the inputs it was compiled with: a reused function reads the data
        from its own shared variables, which the caller updates.
        """
        for entry in self.entries:
            if entry.key == key and equal_computations(outputs, entry.outputs, inputs, entry.inputs):
                self.entries.remove(entry)
                self.entries.append(entry)
                self.hits[key[0]] += 1
                return entry.function, entry.inputs
        configure()
        function = build()
        self.entries = [*self.entries[-(self.size - 1):], _Entry(key, outputs, inputs, function)]
        self.misses[key[0]] += 1
        return function, inputs

    def clear(self) -> None:
        self.entries.clear()
        self.hits.clear()
        self.misses.clear()


CACHE = FunctionCache()


def _other_shared(outputs: list, data: list) -> list:
    """Shared variables the graph reads besides the data (dim lengths, ``pm.Data``, random generators),
    in graph order (the same for equal graphs)."""
    return [v for v in graph_inputs(outputs) if isinstance(v, SharedVariable) and not any(v is d for d in data)]


def _is_rng(variable) -> bool:
    return isinstance(variable.type, RandomType)


def _fingerprint(value) -> tuple:
    value = np.asarray(value)
    return (str(value.dtype), value.shape, hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest())


def _mode_key():
    """The compile mode in force (the preflight sets PYTHON_MODE): a function compiled in one mode
    never serves another."""
    mode = pytensor.config.mode
    return mode if isinstance(mode, str) else id(mode)


def _match(kind: str, model: pm.Model, outputs: list, values: list, data: list) -> tuple[tuple, list]:
    """The cache key and the graph inputs to match by position.

    The key holds what ``equal_computations`` does not compare: the data's types and shapes, the
    values of the other shared variables the graph reads, coords and dims."""
    other = _other_shared(outputs, data)
    key = (
        kind,
        _mode_key(),
        tuple(v.name for v in outputs),
        tuple(v.name for v in values),
        tuple((s.name, s.type.dtype, np.shape(s.get_value(borrow=True))) for s in data),
        tuple((s.name, _fingerprint(s.get_value(borrow=True))) for s in other if not _is_rng(s)),
        tuple((k, tuple(v) if v is not None else None) for k, v in model.coords.items()),
        tuple(sorted((k, tuple(v)) for k, v in model.named_vars_to_dims.items())),
    )
    return key, [*values, *data, *other]


def _data(shared: list) -> dict[str, np.ndarray]:
    return {s.name: s.get_value(borrow=True) for s in shared}


def _load_data(compiled_inputs: list, n_values: int, shared: list) -> None:
    """Put this replicate's data into the shared variables a reused function was compiled with
    (``compiled_inputs``: its value variables, then its data, as ``_match`` orders them)."""
    for old, new in zip(compiled_inputs[n_values:n_values + len(shared)], shared, strict=True):
        old.set_value(new.get_value(borrow=True), borrow=True)


def sample_nutpie(model: pm.Model, data: dict[str, np.ndarray], *, seed: int, draws: int, tune: int, chains: int,
                  cores: int, target_accept: float, **nuts_kwargs) -> xr.DataTree:
    """NUTS with nutpie on ``model`` given ``data``, reusing the compiled model across data sets.

    Mirrors ``pm.sample(nuts_sampler="nutpie")`` (same seed per chain, same posterior layout)."""
    import nutpie
    from pymc.backends.arviz import patch_nutpie_idata
    from pymc.sampling.mcmc import _get_seeds_per_chain

    conditioned, shared = shared_condition(model, data)
    outputs = [conditioned.logp(), *conditioned.unobserved_value_vars]
    key, inputs = _match("nutpie", conditioned, outputs, conditioned.value_vars, shared)
    compiled, _ = CACHE.get(key, outputs, inputs, lambda: nutpie.compile_pymc_model(conditioned, backend="numba"))
    compiled = compiled.with_data(**_data(shared))
    if "max_treedepth" in nuts_kwargs:
        nuts_kwargs["maxdepth"] = nuts_kwargs.pop("max_treedepth")
    start = time.time()
    idata = nutpie.sample(compiled, draws=draws, tune=max(tune, 1), chains=chains, cores=cores,
                          seed=int(_get_seeds_per_chain(seed, chains)[0]), target_accept=target_accept,
                          progress_bar=False, **nuts_kwargs)
    patch_nutpie_idata(idata, conditioned, sampling_time=time.time() - start)
    return idata


def jittered_initial_points(model: pm.Model, initial_point: Callable, logp: Callable, seeds, retries: int = 10) -> list:
    """One initial point per seed, as ``pm.sample`` jitters them (``_init_jitter``): ``initial_point``
    is the model's jittered initial point function (of a seed), ``logp`` a point's log-density; a
    point whose log-density is not finite is drawn again, up to ``retries`` times."""
    points = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        for attempt in range(retries + 1):
            point = initial_point(seed)
            if np.isfinite(logp(point)):
                break
            if attempt == retries:
                model.check_start_vals(point)
            seed = rng.integers(2**30, dtype=np.int64)
        points.append(point)
    return points


@dataclass
class _PymcNuts:
    logp_dlogp: object  # the model's ValueGradFunction, which NUTS steps on
    initial_point: Callable  # seed -> the model's jittered initial point (transformed)
    trace: object  # value variables -> every free variable and Deterministic, as NDArray traces record


def sample_pymc_nuts(model: pm.Model, data: dict[str, np.ndarray], *, seed: int, draws: int, tune: int, chains: int,
                     target_accept: float) -> xr.DataTree:
    """``pm.sample(nuts_sampler="pymc", cores=1, random_seed=seed)`` on ``model`` given ``data``, reusing
    its compiled functions (log-density and gradient, initial point, trace) across data sets.

    The steps are ``pm.sample``'s (seeds, jittered initial points, ``init_nuts``' adapting
    potential, a new NUTS step, chains one after another), so the draws are those of a new
    ``pm.sample`` on the same shared-data model (tested). A model with discrete free variables is
    ``pm.sample`` itself, compiled for each data set."""
    import pytensor as pt_
    from pymc.backends.ndarray import NDArray
    from pymc.blocking import DictToArrayBijection
    from pymc.initial_point import make_initial_point_fn
    from pymc.progress_bar import default_progress_theme
    from pymc.sampling.mcmc import _sample_many, _sample_return
    from pymc.step_methods.hmc import quadpotential
    from pymc.util import get_random_generator

    conditioned, shared = shared_condition(model, data)
    if conditioned.discrete_value_vars:
        # pm.sample's compound step (NUTS on the continuous variables, Metropolis-type on the discrete):
        # its steps compile their own functions, so nothing is reused across data sets
        return pm.sample(draws=draws, tune=tune, chains=chains, cores=1, random_seed=seed, model=conditioned,
                         target_accept=target_accept, progressbar=False, compute_convergence_checks=False)
    outputs = [conditioned.logp(), *conditioned.unobserved_value_vars]
    values = conditioned.value_vars
    key, inputs = _match("pymc", conditioned, outputs, values, shared)

    def build() -> _PymcNuts:
        initial_point = make_initial_point_fn(model=conditioned, jitter_rvs=set(conditioned.free_RVs),
                                              return_transformed=True)
        logp_dlogp = conditioned.logp_dlogp_function(ravel_inputs=True, initial_point=initial_point(0))
        logp_dlogp.trust_input = True
        trace = conditioned.compile_fn(
            outs=[pt_.Out(v, borrow=True) for v in conditioned.unobserved_value_vars],
            inputs=[pt_.In(v, borrow=True) for v in values], point_fn=False, on_unused_input="ignore",
            trust_input=True)
        return _PymcNuts(logp_dlogp, initial_point, trace)

    entry, compiled_inputs = CACHE.get(key, outputs, inputs, build)
    _load_data(compiled_inputs, len(values), shared)
    rngs = get_random_generator(seed).spawn(chains)
    seeds = [rng.integers(2**30) for rng in rngs]
    points = jittered_initial_points(
        conditioned, entry.initial_point,
        lambda point: entry.logp_dlogp([DictToArrayBijection.map(point).data], extra_vars={})[0], seeds)
    mean = np.mean([DictToArrayBijection.map(point).data for point in points], axis=0)
    potential = quadpotential.QuadPotentialDiagAdapt(len(mean), mean, np.ones_like(mean), 10, rng=seeds[0])
    step = pm.NUTS(potential=potential, model=conditioned, rng=seeds[0], initial_point=points[0],
                   logp_dlogp_func=entry.logp_dlogp, target_accept=target_accept)
    names = {v.name for v in values}
    points = [{k: v for k, v in point.items() if k in names} for point in points]
    traces = []
    for chain in range(chains):
        trace = NDArray(model=conditioned, fn=entry.trace, test_point=points[0])
        trace.setup(draws + tune, chain, step.stats_dtypes)
        traces.append(trace)
    start = time.time()
    _sample_many(draws=draws + tune, chains=chains, traces=traces, start=points, rngs=rngs, step=step, tune=tune,
                 progressbar=False, progressbar_theme=default_progress_theme, model=conditioned, cores=1,
                 callback=None, discard_tuned_samples=True, var_names=None)
    return _sample_return(run=None, traces=traces, tune=tune, t_sampling=time.time() - start,
                          discard_tuned_samples=True, compute_convergence_checks=False, return_inferencedata=True,
                          keep_warning_stat=False, idata_kwargs={}, model=conditioned, quiet=True)


@dataclass
class _Variational:
    inference: object  # pm.ADVI or pm.FullRankADVI on the first replicate's conditioned model
    step: object  # its compiled optimisation step
    rngs: list  # the step's random generators, in the order ``pm.compile`` seeds them
    initial: list  # (shared variable, value before the first step): parameters, optimiser state
    initial_point: Callable  # seed -> the model's initial point, as the approximation's start


def fit_variational(model: pm.Model, data: dict[str, np.ndarray], *, kind: str, seed: int, iterations: int,
                    draws: int) -> xr.DataTree:
    """``pm.fit(n=iterations, method=kind, random_seed=seed)`` then ``approx.sample(draws, random_seed=seed)``
    on ``model`` given ``data``, reusing the compiled step and sampling functions across data sets.

    Compiling the step is most of an ADVI fit.
    Before each fit the reused objects are put back where a new ``pm.fit`` starts: the optimiser's
    state and the variational parameters at their initial values, the mean at the model's initial
    point, the random generators seeded as ``pm.fit`` seeds them (the same draws, tested)."""
    from pymc.blocking import DictToArrayBijection
    from pymc.initial_point import make_initial_point_fn
    from pymc.pytensorf import compile, reseed_rngs

    conditioned, shared = shared_condition(model, data)
    outputs = [conditioned.logp(), *conditioned.unobserved_value_vars]
    key, inputs = _match(kind, conditioned, outputs, conditioned.value_vars, shared)

    def build():
        inference = {"advi": pm.ADVI, "fullrank_advi": pm.FullRankADVI}[kind](model=conditioned, random_seed=seed)
        # ObjectiveFunction.step_function(score=True) with its defaults, keeping the generators in the
        # order pm.compile seeds them
        updates = inference.objective.updates()
        step, rng_updates = compile([], updates.loss, updates=updates, random_seed=False, return_updates=True)
        initial = [(v, v.get_value(borrow=False)) for v in updates if isinstance(v, SharedVariable) and not _is_rng(v)]
        initial_point = make_initial_point_fn(model=conditioned, jitter_rvs={}, return_transformed=True)
        return _Variational(inference, step, list(rng_updates), initial, initial_point)

    cached, compiled_inputs = CACHE.get(key, outputs, inputs, build)
    _load_data(compiled_inputs, len(conditioned.value_vars), shared)
    inference = cached.inference
    for variable, value in cached.initial:
        variable.set_value(value.copy(), borrow=True)
    # what pm.fit(random_seed=seed) does next (Group._prepare_start, then step_function): the group's
    # generator seeds the initial point, which becomes the mean, then the step's generators
    group = inference.approx.groups[0]
    group.rng = np.random.RandomState(seed)
    point = cached.initial_point(group.rng.randint(2**30, dtype=np.int64))
    names = {group.model.rvs_to_values[v].name for v in group.group}
    mu = group.params_dict["mu"]
    mu.set_value(np.asarray(DictToArrayBijection.map({k: v for k, v in point.items() if k in names}).data,
                            dtype=mu.dtype))
    reseed_rngs(cached.rngs, group.rng.randint(2**30, dtype=np.int64))
    inference.hist = np.asarray(())
    inference.objective.step_function = lambda **kwargs: cached.step  # fit() asks for its step: ours
    try:
        approx = inference.fit(iterations, progressbar=False)
    finally:
        del inference.objective.step_function
    return approx.sample(draws, random_seed=seed)


def constrained_draws(conditioned: pm.Model, shared: list, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Draws of the value variables (transformed scale, draws on the first axis) as draws of every
    free variable on its own scale and every Deterministic, by one compiled function per graph.

    ``conditioned`` and ``shared`` come from ``shared_condition``: a Deterministic may read the data.
    For methods that sample the value variables themselves (SMC, Pathfinder, Laplace)."""
    from pymc.util import get_default_varnames

    outputs = list(get_default_varnames(conditioned.unobserved_value_vars, include_transformed=False))
    inputs_ = conditioned.value_vars
    key, inputs = _match("constrain", conditioned, outputs, inputs_, shared)
    function, compiled_inputs = CACHE.get(key, outputs, inputs, lambda: _batched_function(inputs_, outputs))
    _load_data(compiled_inputs, len(inputs_), shared)
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


def prior_draw(model: pm.Model, seed: int) -> dict[str, np.ndarray]:
    """One draw of every free, observed and Deterministic variable from the prior predictive.

    The same draw as ``pm.sample_prior_predictive(draws=1, random_seed=seed)``, with the compiled
    sampling function reused across models of the same graph (only its generators are reseeded)."""
    from pymc.pytensorf import collect_default_updates, compile, reseed_rngs
    from pymc.sampling.mcmc import _get_seeds_per_chain

    names = sorted(v.name for v in [*model.basic_RVs, *model.deterministics])
    outputs = [model[name] for name in names]
    key, inputs = _match("prior", model, outputs, [], [])

    def build():
        with model:  # compile reads the model's check_bounds
            function = compile([], outputs, random_seed=False, allow_input_downcast=True, accept_inplace=True)
        return function, list(collect_default_updates(inputs=[], outputs=outputs))

    (function, rngs), _ = CACHE.get(key, outputs, inputs, build)
    (seed,) = _get_seeds_per_chain(seed, 1)
    reseed_rngs(rngs, seed)
    return dict(zip(names, (np.asarray(v) for v in function()), strict=True))


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
    ``prior_draw`` finds its function: building the log-likelihood graph to compare it costs more
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
    key, inputs = _match("log_likelihood", model, outputs, [], [])
    key = (*key, tuple((k, v.dtype.str, v.shape) for k, v in sorted(data.items())), skip_rows)
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


def predictive_draw(model: pm.Model, point: dict[str, np.ndarray], seed: int) -> dict[str, np.ndarray]:
    """One draw of every observed variable given the free variables' values ``point`` (constrained
    scale): ``pm.sample_posterior_predictive`` for one point, compiled once per graph.

    Every free variable is frozen at its value in ``point``: otherwise PyMC redraws from the prior
    any variable that reads a shared variable (a ``dims`` length, a ``pm.Data`` container)."""
    from pymc.pytensorf import collect_default_updates, reseed_rngs
    from pymc.sampling.forward import compile_forward_sampling_function
    from pymc.sampling.mcmc import _get_seeds_per_chain

    observed = list(model.observed_RVs)
    key, inputs = _match("predictive", model, observed, [], [])

    def build():
        function, _ = compile_forward_sampling_function(outputs=observed, vars_in_trace=list(model.free_RVs),
                                                        basic_rvs=model.basic_RVs, freeze_vars=set(model.free_RVs),
                                                        random_seed=False, allow_input_downcast=True,
                                                        accept_inplace=True)
        free = {rv.name for rv in model.free_RVs}
        names = [i.variable.name for i in function.maker.inputs if i.variable.name in free]
        return function, names, list(collect_default_updates(inputs=[], outputs=observed))

    (function, names, rngs), _ = CACHE.get(key, observed, inputs, build)
    (seed,) = _get_seeds_per_chain(seed, 1)
    reseed_rngs(rngs, seed)
    values = function(**{name: point[name] for name in names})
    return {rv.name: np.asarray(v) for rv, v in zip(observed, values, strict=True)}
