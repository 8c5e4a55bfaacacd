"""The compile cache: compile a model's functions once and reuse them for every replicate's data.

SBC fits one model to many simulated data sets. ``pm.observe`` with arrays makes the data constants
of the compiled log-density, so every replicate compiles anew, which on a small model is most of a
fit. Instead the observed data are shared variables (``shared.shared_condition``), and a function
compiled for one replicate serves every later one in the same process with only its data swapped.
Graphs are matched with PyTensor's ``equal_computations`` (structure, ops and constants such as the
design's covariates), not by names, so a different model or design compiles its own function. The
functions live as long as the process: in a campaign, as long as the warm kernel (see
``run/kernels.py``).

A replicate always runs a function compiled from the shared-data graph, whether compiled now or
reused, so its draws do not depend on which replicates ran before it in the same kernel.

A user of the cache builds the graph's outputs, takes its key (``graph_key``), asks ``CACHE.get``
for the function (built on a miss) and, when the function reads the data from its shared
variables, puts this replicate's data into them (``load_data``).
"""

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor
from pytensor.compile.mode import Mode
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import equal_computations
from pytensor.graph.traversal import graph_inputs
from pytensor.tensor.random.type import RandomType

from sbc_helpers.setup import configure

PYTHON_MODE = Mode(linker="py", optimizer="fast_run").excluding("fusion")
"""PyTensor's Python linker with its usual rewrites (stabilisation included) but no elementwise
fusion, whose fused ops are slow in Python: for functions that only evaluate, where compiling Numba
code costs seconds and saves microseconds (the log-likelihood of a replicate's kept draws, the
preflight's checks). Their values agree with Numba's to rounding, and no draw depends on them."""


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


def is_rng(variable) -> bool:
    """Whether ``variable`` is a random generator (whose state no key compares and no reset restores)."""
    return isinstance(variable.type, RandomType)


def _fingerprint(value) -> tuple:
    value = np.asarray(value)
    return (str(value.dtype), value.shape, hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest())


def _mode_key():
    """The compile mode in force (the preflight sets PYTHON_MODE): a function compiled in one mode
    never serves another."""
    mode = pytensor.config.mode
    return mode if isinstance(mode, str) else id(mode)


def graph_key(kind: str, model: pm.Model, outputs: list, values: list = (), data: list = (),
              settings: tuple = ()) -> tuple[tuple, list]:
    """The cache key of a function of ``outputs`` and the graph inputs ``CACHE.get`` matches by
    position: ``values`` (value variables), then ``data`` (the shared data variables), then the
    other shared variables the graph reads.

    The key holds what ``equal_computations`` does not compare: the data's types and shapes, the
    values of the other shared variables, coords and dims, and the ``settings`` the function was
    built with."""
    other = _other_shared(outputs, data)
    key = (
        kind,
        _mode_key(),
        tuple(v.name for v in outputs),
        tuple(v.name for v in values),
        tuple((s.name, s.type.dtype, np.shape(s.get_value(borrow=True))) for s in data),
        tuple((s.name, _fingerprint(s.get_value(borrow=True))) for s in other if not is_rng(s)),
        tuple((k, tuple(v) if v is not None else None) for k, v in model.coords.items()),
        tuple(sorted((k, tuple(v)) for k, v in model.named_vars_to_dims.items())),
        *((("settings", *settings),) if settings else ()),
    )
    return key, [*values, *data, *other]


def load_data(compiled_inputs: list, n_values: int, shared: list) -> None:
    """Put this replicate's data into the shared variables a reused function was compiled with
    (``compiled_inputs``, as ``CACHE.get`` returns them: its ``n_values`` value variables, then its
    data, as ``graph_key`` orders them)."""
    for old, new in zip(compiled_inputs[n_values:n_values + len(shared)], shared, strict=True):
        old.set_value(new.get_value(borrow=True), borrow=True)
