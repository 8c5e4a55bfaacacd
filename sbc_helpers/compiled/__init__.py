"""Compile once, reuse for every replicate: the cache of compiled functions (``cache``), models
conditioned on data held in shared variables (``shared``), the compiled log-likelihood of the
simulated data (``log_likelihood``), and nutpie's compiled model with its C callbacks in the
on-disk Numba cache (``callbacks``). The samplers' compiled engines are in ``inference/engines``,
the compiled prior and predictive draws in ``simulation``; all of them use ``cache``'s API."""
