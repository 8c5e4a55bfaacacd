"""Running a campaign: params, seeds, the preflight, the replicate steps, the runner, execution on
workers, warm kernels, the store and recomputing ranks. Modules are imported where used."""
