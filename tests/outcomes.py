"""Small replicate outcomes, as a worker would send them, for the store's tests."""

import numpy as np
import pandas as pd
import xarray as xr

from sbc_helpers.contract import Outcome, Record, archive_bytes


def ranks_for(replicate: int) -> pd.DataFrame:
    return pd.DataFrame({"replicate": replicate, "quantity": ["mu", "alpha[A]"], "variable": ["mu", "alpha"],
                         "rank": [replicate, 10 - replicate], "max_rank": 10, "true_value": [0.5, -1.0],
                         "post_mean": [0.4, -0.9], "post_sd": [0.1, 0.2]})


def archive_for(replicate: int) -> xr.Dataset:
    """A small archive: kept draws, true values (``true__``) and data (``data__``)."""
    return xr.Dataset({"mu": (("draw",), np.linspace(0, 1, 10) + replicate), "alpha": (("draw", "group"), np.zeros((10, 1))),
                       "true__mu": ((), 0.5), "true__alpha": (("group",), [-1.0]),
                       "data__y": (("data__y_dim_0",), np.arange(4.0))}, coords={"group": ["A"]})


def outcome(replicate: int, status: str = "ok", notebook: str | None = "{}") -> Outcome:
    if status == "ok":
        return Outcome(record=Record.ok(replicate, 100 + replicate, {"divergences": 0}), notebook=notebook,
                       ranks=ranks_for(replicate), draws=archive_bytes(archive_for(replicate)))
    return Outcome(record=Record.failed(replicate, 100 + replicate, "KeyError", "'y'"), notebook=notebook)
