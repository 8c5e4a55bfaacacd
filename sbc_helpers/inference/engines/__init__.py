"""The backends' sampler engines: each runs its method on a model given one replicate's data,
compiling the model's functions once (``compiled.cache``) and reusing them for every later data
set. A backend imports its engine when it fits, so the registry imports no modelling stack."""
