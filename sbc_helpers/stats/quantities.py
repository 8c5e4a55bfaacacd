"""Test quantities beyond the parameters: derived expressions and the data log-likelihood.

Modrák et al. (2023) show that data-dependent quantities, above all the log-likelihood of the
simulated data, catch failures that the ranks of the parameters miss (a posterior equal to the
prior, a dropped observation, a dropped correlation). Each quantity here is computed for every kept
posterior draw and for the true parameters, then ranked like a parameter.
"""

from collections.abc import Callable

import numpy as np
import xarray as xr

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


def log_likelihood(draws: xr.Dataset, truth: xr.Dataset, free: list[str],
                   totals: Callable[[dict[str, np.ndarray]], np.ndarray]) -> tuple[xr.Dataset, xr.Dataset]:
    """Total log-likelihood of the simulated data under each draw and at the truth.

    ``totals`` maps points (the ``free`` variables' values, one point per leading row) to the data's
    total log-likelihood at each: the model's compiled function on one replicate's data
    (``run.steps.data_log_likelihood``).
    """
    points = {name: np.concatenate([draws[name].transpose("draw", ...).to_numpy(), truth[name].to_numpy()[None]])
              for name in free}
    total = totals(points)
    return (xr.Dataset({LOG_LIKELIHOOD: (("draw",), total[:-1])}),
            xr.Dataset({LOG_LIKELIHOOD: ((), total[-1])}))
