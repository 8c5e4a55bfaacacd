"""Test quantities beyond the parameters: derived expressions and the data log-likelihood.

Modrák et al. (2023) show that data-dependent quantities, above all the log-likelihood of the
simulated data, catch failures that the ranks of the parameters miss (a posterior equal to the
prior, a dropped observation, a dropped correlation). Each quantity here is computed for every kept
posterior draw and for the true parameters, then ranked like a parameter.
"""

import numpy as np
import pymc as pm
import xarray as xr

from sbc_helpers.models.compiled import log_likelihood_totals
from sbc_helpers.errors import QuantityError

LOG_LIKELIHOOD = "log_lik"


def _evaluate(name: str, expression: str, arrays: dict[str, np.ndarray]) -> np.ndarray:
    try:
        value = eval(expression, {"__builtins__": {}, "np": np}, dict(arrays))  # noqa: S307 - user's own params
    except Exception as err:
        raise QuantityError(f"derived quantity {name!r} = {expression!r}: {type(err).__name__}: {err}") from None
    return np.asarray(value, dtype=float)


def derived(draws: xr.Dataset, truth: xr.Dataset, expressions: dict[str, str]) -> tuple[xr.Dataset, xr.Dataset]:
    """Evaluate ``{name: expression}`` on the draws and on the truth.

    Expressions see each variable as a NumPy array whose first axis is the draw (the truth gets a
    draw axis of length 1), so one expression serves both: ``"alpha[:, 0] - alpha[:, 1]"``,
    ``"mu[:, 0] + mu[:, 1]"``, ``"np.exp(log_sigma)"``.
    """
    arrays_draws = {v: draws[v].transpose("draw", ...).to_numpy() for v in draws.data_vars}
    arrays_truth = {v: truth[v].to_numpy()[None, ...] for v in truth.data_vars}
    out_draws, out_truth = {}, {}
    for name, expression in expressions.items():
        d = _evaluate(name, expression, arrays_draws)
        t = _evaluate(name, expression, arrays_truth)
        if d.ndim == 0 or d.shape[0] != draws.sizes["draw"] or t.shape[1:] != d.shape[1:]:
            raise QuantityError(f"derived quantity {name!r} = {expression!r} must keep the draw axis first")
        dims = [f"{name}_dim_{i}" for i in range(d.ndim - 1)]
        out_draws[name] = (("draw", *dims), d)
        out_truth[name] = (tuple(dims), t[0])
    return xr.Dataset(out_draws), xr.Dataset(out_truth)


def log_likelihood(model: pm.Model, data: dict[str, np.ndarray], draws: xr.Dataset,
                   truth: xr.Dataset, skip_rows: int = 0) -> tuple[xr.Dataset, xr.Dataset]:
    """Total log-likelihood of the observed (simulated) ``data`` under each draw and at the truth,
    leaving out the first ``skip_rows`` rows of every observed variable.

    ``model`` is the unconditioned model; ``draws`` and ``truth`` hold its free variables. The
    compiled log-likelihood is reused across replicates (``compiled.log_likelihood_totals``).
    """
    points = {rv.name: np.concatenate([draws[rv.name].transpose("draw", ...).to_numpy(), truth[rv.name].to_numpy()[None]])
              for rv in model.free_RVs}
    total = log_likelihood_totals(model, data, points, skip_rows)
    return (xr.Dataset({LOG_LIKELIHOOD: (("draw",), total[:-1])}),
            xr.Dataset({LOG_LIKELIHOOD: ((), total[-1])}))
