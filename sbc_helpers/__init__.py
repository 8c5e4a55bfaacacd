"""sbc: simulation-based calibration of PyMC models, run as papermill notebooks on Dask.

Stages, one sub-package each: ``models`` (model sources: designs, the model library, references,
Bambi formulas), ``compiled`` (the compile cache), ``simulation`` (true values and data, from the
prior or a reference posterior), ``inference`` (the methods under test, as backends, and their
engines), ``stats`` (ranks, test quantities, diagnostics, calibration), ``run`` (params,
preflight, the replicate steps, the runner, execution, kernels, the store), ``report`` (analysis,
tables, pages, plots, figures).
``contract`` holds what the stages hand each other; ``errors`` the errors a user can act on.

The public API is imported lazily, so a Dask worker that only runs notebooks imports none of the
modelling stack::

    import sbc_helpers as sbc
    run = sbc.run_campaign("params/demo.yaml")
"""

from importlib import import_module

_API = {
    "load_campaign": "sbc_helpers.run.params",
    "Campaign": "sbc_helpers.run.params",
    "check_campaign": "sbc_helpers.api",
    "run_campaign": "sbc_helpers.api",
    "build_report": "sbc_helpers.api",
    "campaign_status": "sbc_helpers.api",
    "plan_campaign": "sbc_helpers.api",
    "calibrate": "sbc_helpers.api",
    "Calibration": "sbc_helpers.api",
    "check_calibration": "sbc_helpers.api",
    "CalibrationCheck": "sbc_helpers.api",
    "compare_campaigns": "sbc_helpers.api",
    "run_replicate": "sbc_helpers.run.steps",
    "configure": "sbc_helpers.setup",
    "SBCError": "sbc_helpers.errors",
    "ParamsError": "sbc_helpers.errors",
}

__all__ = sorted(_API)


def __getattr__(name: str):
    if name in _API:
        return getattr(import_module(_API[name]), name)
    raise AttributeError(f"module 'sbc_helpers' has no attribute {name!r}")
