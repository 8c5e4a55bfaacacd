"""nutpie's compiled model with its C callbacks in the on-disk Numba cache.

nutpie hands its sampler the model's log-density and its expansion to the kept variables as two
Numba ``cfunc`` callbacks, each built by a factory as a closure. Numba keys a closure's cache entry
by a pickle of its closure variables, which hold PyTensor's generated functions and differ in every
process: nutpie's own callbacks are never found in the cache, and each process links and optimises
the whole compiled graph again inside them (4.8 of a warm-cache compile's 5.5 s on the seed's
model). Here the same source (nutpie's, read from its factory) is compiled without a closure, its
variables made globals, and PyTensor's Numba cache stores it under a key of everything the callback
is built from: nutpie's code, the key PyTensor gave the compiled graph, the dimensions, and the
data's types, shapes and places in nutpie's record. Code loaded from that cache is the code compiled
cold (fast math is off, see ``setup``), so the draws are the same whether a process compiled the
callbacks or loaded them.
"""

import contextlib
import hashlib
import inspect
import numbers
import textwrap
import threading

import numpy as np

FACTORIES = ("_make_c_logp_func", "_make_c_expand_func")
"""nutpie's callback factories, each returning ``(closure, C signature)``."""
_PATCHED = threading.Lock()  # the factories and ``numba.cfunc`` are replaced for one compile at a time


def _layout(user_data: np.ndarray, shared_keys: list[str]) -> str:
    """The record of data pointers and shapes, its fields named by position, not by nutpie's uuids,
    and the positions this callback reads its data from (compiled in as offsets)."""
    names = list(user_data.dtype["shared"]["data"].names or ())
    layout = str(user_data.dtype.descr)
    for i, name in enumerate(names):
        layout = layout.replace(repr(name), repr(f"shared{i}"))
    return f"{layout} reads {[names.index(k) for k in shared_keys]}"


def cache_key(graph_key: str, source: str, closure: dict, user_data: np.ndarray, shared_keys: list[str],
              shared_data: dict[str, np.ndarray]) -> str:
    """What a callback is compiled from: a change to any part compiles it anew. nutpie's whole module
    stands for its code (the callback calls its data extraction), PyTensor's key for the graph."""
    import nutpie
    import pytensor
    from nutpie import compile_pymc

    parts = [nutpie.__version__, pytensor.__version__, inspect.getsource(compile_pymc), source, graph_key,
             _layout(user_data, shared_keys),
             *(f"{k}={v!r}" for k, v in sorted(closure.items()) if isinstance(v, numbers.Number | str)),
             *(f"{shared_data[k].dtype.str}{shared_data[k].shape}" for k in shared_keys)]
    return "sbc-callback-" + hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _cacheable(factory):
    """``factory`` made to return its callback without a closure, registered under its cache key (or
    its own closure when PyTensor gave the compiled graph no key)."""
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS, compile_numba_function_src

    def make(n_dim, *args):
        inner, user_data, shared_keys, shared_data = args[-4:]
        closure_fn, signature = factory(n_dim, *args)
        py_func = getattr(inner, "py_func", None)
        graph_key = CACHED_SRC_FUNCTIONS.get(py_func) if py_func is not None else None
        if graph_key is None:
            return closure_fn, signature
        closure = dict(zip(closure_fn.__code__.co_freevars,
                           (cell.cell_contents for cell in closure_fn.__closure__), strict=True))
        source = textwrap.dedent(inspect.getsource(closure_fn))
        key = cache_key(graph_key, source, closure, user_data, list(shared_keys), shared_data)
        function = compile_numba_function_src(source, closure_fn.__name__,
                                              global_env={**closure_fn.__globals__, **closure}, cache_key=key)
        return function, signature

    return make


@contextlib.contextmanager
def _cached_callbacks():
    """nutpie's factories return callbacks without closures, and Numba caches those (only those:
    any other callback is compiled as before, for a Numba cache entry of a closure is never found
    again and would only pile up)."""
    import numba
    from nutpie import compile_pymc
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

    def cached_cfunc(signature, cache=False, **kwargs):
        return lambda function: cfunc(signature, cache=cache or function in CACHED_SRC_FUNCTIONS, **kwargs)(function)

    with _PATCHED:
        originals = {name: getattr(compile_pymc, name) for name in FACTORIES}
        cfunc = numba.cfunc
        try:
            for name, factory in originals.items():
                setattr(compile_pymc, name, _cacheable(factory))
            numba.cfunc = cached_cfunc
            yield
        finally:
            numba.cfunc = cfunc
            for name, factory in originals.items():
                setattr(compile_pymc, name, factory)


def compile_pymc_model(model):
    """``nutpie.compile_pymc_model(model, backend="numba")``, its callbacks loaded from the cache when
    a process compiled them before (``SBC_NUMBA_CACHE=0``: compiled every time, as nutpie does)."""
    import nutpie
    import pytensor

    if not pytensor.config.numba__cache:
        return nutpie.compile_pymc_model(model, backend="numba")
    with _cached_callbacks():
        return nutpie.compile_pymc_model(model, backend="numba")
