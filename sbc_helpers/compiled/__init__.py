"""Compile once, reuse for every replicate: the cache of compiled functions (``cache``), models
conditioned on data held in shared variables (``shared``), and the compiled log-likelihood of the
simulated data (``log_likelihood``). The samplers' compiled engines are in ``inference/engines``,
the compiled prior and predictive draws in ``simulation``; all of them use ``cache``'s API."""
