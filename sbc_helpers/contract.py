"""The replicate contract: what one replicate hands on, under which names, in which format.

Every stage meets here: the replicate notebook writes a ``Record`` and its side-car files, the
worker collects them into an ``Outcome``, the client stores it under the names below, and the
report reads the tables whose columns are listed here. Nothing else defines a file name or a
record field.

A replicate's *archive* (``draws.nc``) holds its kept posterior draws, the true values and the
simulated data; ranks are always computed from it, at run time and by ``sbc report --recompute``.

Heavy libraries (pandas, xarray) are imported inside the functions that need them: Dask workers
import this module to collect a notebook's files and never need PyMC or xarray.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sbc_helpers.errors import one_line

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

# --- names --------------------------------------------------------------------------------------

SIDE_CARS = {"ranks": "ranks.parquet", "draws": "draws.nc", "record": "replicate.json", "truth": "truth.json"}
"""Files a replicate notebook writes into its ``output_dir`` (``truth``: written before the fit, so a
replicate whose fit fails still says where in parameter space it was)."""

REPLICATES_DIR = "replicates"
REPLICATE_SUFFIXES = {"notebook": ".ipynb", "page": ".html", "ranks": ".ranks.parquet",
                      "draws": ".draws.nc", "record": ".json"}
"""A stored replicate's files: ``<unit>/replicates/<stem><suffix>``; the record is written last."""

UNIT_FILES = {"ranks": "ranks.parquet", "replicates": "replicates.parquet", "calibration": "calibration.csv",
              "failures": "failures.csv", "verdict": "verdict.json", "summary": "summary.ipynb",
              "summary_page": "summary.html", "thumbnail": "ecdf.png", "model": "model.txt",
              "evidence": "evidence.parquet", "truths": "truths.parquet", "identity": "identity.json",
              "notebook_css": f"{REPLICATES_DIR}/notebook.css"}
"""A unit's (model x method) gathered tables and pages, in ``<campaign>/<unit>/``."""

CAMPAIGN_FILES = {"manifest": "campaign.json", "index": "index.html", "log": "sbc.log",
                  "compare": "compare.png", "lock": ".lock",
                  "references": "references", "calibrate_files": "calibrate", "comparison": "compare"}

NOT_UNIT_NAMES = {CAMPAIGN_FILES[k] for k in ("references", "calibrate_files", "comparison")}
"""A campaign's folders beside its units' (posterior references, ``sbc.calibrate``'s shipped
functions, ``sbc compare``'s output): no model may take these names."""

STEM_WIDTH = 4
STAGES = ("imports", "design", "model", "prior", "fit", "plots", "summary", "ranks", "write")
"""Tagged stages of the replicate template, in the order they run (``plots`` cells follow several
stages and count as one); seconds per stage are recorded as ``t_<stage>``. ``run.steps.run_replicate``
runs the same steps in this order, without the plots."""


@dataclass(frozen=True)
class TemplateParameter:
    """A parameter of the replicate template, as its ``parameters`` cell declares it (a test checks
    the cell against ``TEMPLATE_PARAMETERS``; the cell's comments document them)."""

    name: str
    type: str
    per_replicate: bool = False  # set by the worker for each replicate; the others once per unit by the runner


TEMPLATE_PARAMETERS = tuple(TemplateParameter(*p) for p in (
    ("model", "str"), ("model_kwargs", "dict"), ("bambi", "dict"), ("design", "dict"), ("simulator", "str"),
    ("replicate", "int", True), ("seed", "int", True), ("inference", "dict"), ("cores", "int"),
    ("rank_draws", "int"), ("keep_draws", "int"), ("quantities", "list"), ("derived", "dict"),
    ("log_likelihood", "bool"), ("make_plots", "Union[bool, str]"), ("thresholds", "dict"),
    ("conditional_on", "dict"), ("output_dir", "str", True)))
"""The replicate template's parameters, in the cell's order."""

UNIT_PARAMETERS = [p.name for p in TEMPLATE_PARAMETERS if not p.per_replicate]
"""The parameters ``run.tasks.unit_parameters`` sets, once per unit, in this order."""



def replicate_stem(replicate: int) -> str:
    """``0007``: replicate file names sort in replicate order."""
    return f"{int(replicate):0{STEM_WIDTH}d}"


def replicate_path(unit_dir: Path | str, replicate: int, kind: str) -> Path:
    """The path of one of a stored replicate's files (``kind``: a key of ``REPLICATE_SUFFIXES``)."""
    return Path(unit_dir) / REPLICATES_DIR / f"{replicate_stem(replicate)}{REPLICATE_SUFFIXES[kind]}"


def replicate_href(replicate: int, kind: str = "page", prefix: str = REPLICATES_DIR) -> str:
    """A link to a replicate's notebook or page, relative to its unit's folder (or ``prefix``)."""
    return f"{prefix}/{replicate_stem(replicate)}{REPLICATE_SUFFIXES[kind]}"


def stem_replicate(name: str) -> int | None:
    """The replicate index a stored file's name starts with, or None."""
    stem = name.split(".", 1)[0]
    return int(stem) if stem.isdigit() else None


# --- the fit's diagnostics ----------------------------------------------------------------------


@dataclass(frozen=True)
class Diagnostic:
    """A per-fit diagnostic that can flag a replicate.

    ``field`` names the record field and the campaign's threshold; a fit is flagged ``flag`` when its
    value is ``direction`` the threshold (strictly). ``parts``, when given, are the record fields it
    is the worst of (ESS: bulk and tail). NaN (not computed, e.g. R-hat of independent draws) flags
    nothing.
    """

    field: str
    flag: str
    default: float
    direction: Literal["above", "below"]
    kind: type = float
    bounds: tuple[tuple[str, float], ...] = (("ge", 0),)  # pydantic constraints on the threshold
    description: str = ""
    parts: tuple[str, ...] = ()

    @property
    def fields(self) -> tuple[str, ...]:
        """The record fields it fills: the value, then its parts."""
        return (self.field, *self.parts)


DIAGNOSTICS = (
    Diagnostic("divergences", "divergences", 0, "above", int, description="flag fits with more divergences than this"),
    Diagnostic("treedepth_hits", "treedepth", 0, "above", int, description="flag fits that hit the maximum tree depth more often than this"),
    Diagnostic("max_rhat", "rhat", 1.01, "above", bounds=(("gt", 1),), description="flag fits whose largest R-hat is above this"),
    Diagnostic("min_ess", "ess", 100, "below", description="flag fits whose smallest bulk or tail ESS is below this",
               parts=("min_ess_bulk", "min_ess_tail")),
    Diagnostic("min_bfmi", "bfmi", 0.2, "below", description="flag fits whose smallest BFMI (per chain) is below this"),
)
"""Every diagnostic that flags a fit, in the order of the record, the tables and the flags."""

MEASURED = [f for d in DIAGNOSTICS for f in (d.parts or (d.field,))]
"""What ``stats.diagnostics.fit_diagnostics`` measures: each diagnostic's parts, or its value."""


def worst_of_parts(diagnostic: Diagnostic, values: dict) -> float | None:
    """A diagnostic's value from its parts' (the defined ones; None when none is)."""
    parts = [values.get(k) for k in diagnostic.parts]
    parts = [float(v) for v in parts if v is not None and not math.isnan(float(v))]
    if not parts:
        return None
    return max(parts) if diagnostic.direction == "above" else min(parts)


# --- the record ---------------------------------------------------------------------------------


class _Identity(BaseModel):
    model_config = ConfigDict(extra="forbid")

    replicate: int = Field(ge=0)
    seed: int = Field(ge=0)
    status: Literal["ok", "failed", "not_run"]
    error: str | None = None
    message: str | None = None
    traceback: str | None = None


_Diagnosed = create_model("_Diagnosed", __base__=_Identity,
                          **{f: (d.kind | None, None) for d in DIAGNOSTICS for f in d.fields})


class Record(_Diagnosed):
    """One replicate's outcome: its status, the fit's diagnostics (``DIAGNOSTICS``) and what each
    stage cost.

    ``status`` is ``ok`` (ranks and archive exist), ``failed`` (after its retries; ``error`` and
    ``message`` say why) or ``not_run`` (its unit was stopped before it ran; a rerun runs it).
    """

    seconds: float | None = None  # the fit alone
    rank_draws: int | None = None
    kept_draws: int | None = None
    wall_seconds: float | None = None  # the whole notebook, on the worker
    stage_seconds: dict[str, float] = {}
    attempts: int = Field(1, ge=1)
    earlier_errors: str | None = None
    truth: dict[str, float] = {}  # a failed replicate's true values by quantity label, when it drew them

    @model_validator(mode="after")
    def _consistent(self) -> Record:
        if self.status == "ok" and self.error is not None:
            raise ValueError("an ok record has no error")
        if self.status != "ok" and not self.message:
            raise ValueError(f"a {self.status} record says why")
        return self

    @classmethod
    def ok(cls, replicate: int, seed: int, diagnostics: dict, **fields) -> Record:
        """A successful replicate; a diagnostic with parts takes the worst of them (``min_ess``: the
        smaller of bulk and tail ESS)."""
        combined = {d.field: worst_of_parts(d, diagnostics) for d in DIAGNOSTICS if d.parts}
        return cls(replicate=replicate, seed=seed, status="ok", **diagnostics, **combined, **fields)

    @classmethod
    def failed(cls, replicate: int, seed: int, error: str, message: str, **fields) -> Record:
        return cls(replicate=replicate, seed=seed, status="failed", error=error, message=one_line(message), **fields)

    @classmethod
    def not_run(cls, replicate: int, seed: int, reason: str) -> Record:
        return cls(replicate=replicate, seed=seed, status="not_run", message=reason)

    def to_json(self) -> str:
        return self.model_dump_json(indent=1)

    @classmethod
    def from_json(cls, text: str | bytes) -> Record:
        return cls.model_validate_json(text)

    def row(self) -> dict:
        """The record as one row of ``replicates.parquet`` (stage seconds as ``t_<stage>``)."""
        row = self.model_dump(exclude={"stage_seconds", "truth"})
        row.update({f"t_{s}": self.stage_seconds.get(s) for s in STAGES})
        return row


RANKS_COLUMNS = ["replicate", "quantity", "variable", "rank", "max_rank", "true_value", "post_mean", "post_sd"]
"""``ranks.parquet``: one row per replicate x test quantity."""

REPLICATE_COLUMNS = [*(f for f in Record.model_fields if f not in ("stage_seconds", "truth")), *(f"t_{s}" for s in STAGES), "flags"]
"""``replicates.parquet``: one row per replicate of the campaign (``flags``: why its fit is suspect)."""

@dataclass(frozen=True)
class CalibrationColumn:
    """A column of ``calibration.csv``: what it says (the summary's legend), its place in the
    summary's table (None: the file only), and whether the shape reading adds it (``reading``) or
    the uniformity tests (``calibrate.calibration_table``)."""

    name: str
    meaning: str
    page: int | None = None
    reading: bool = False


CALIBRATION = (
    CalibrationColumn("quantity", "the test quantity; `log_lik` is the log-likelihood of the simulated data, which "
                      "fails when the posterior ignores or misreads the data even if every parameter's ranks look "
                      "uniform", 0),
    CalibrationColumn("variable", "the model variable (or derived quantity) it belongs to"),
    CalibrationColumn("n_replicates", "the completed replicates its ranks come from", 8),
    CalibrationColumn("p_value", "ArviZ's pot_c uniformity test", 5),
    CalibrationColumn("chi2_p_value", "the chi-square test of the binned ranks", 6),
    CalibrationColumn("log_gamma_ratio", "below 0: the rank ECDF leaves its simultaneous band at the level", 7),
    CalibrationColumn("gamma_p_value", "tests the whole rank ECDF against its simultaneous band (Säilynoja et "
                      "al.'s gamma, exact null distribution)", 4),
    CalibrationColumn("p_adjusted", "the gamma p-value, Holm-adjusted across this model's quantities", 3),
    CalibrationColumn("calibrated", "`p_adjusted` at or above the level stated above the table", 1),
    CalibrationColumn("reading", "the rank shape in words (biased, too narrow, too wide), for flagged quantities",
                      2, reading=True),
    CalibrationColumn("worst_replicate", "the replicate whose true value lies furthest out in its posterior", 9,
                      reading=True),
)
"""``calibration.csv``'s columns, in the file's order: one row per quantity."""

CALIBRATION_COLUMNS = [c.name for c in CALIBRATION]
CALIBRATION_PAGE = sorted((c for c in CALIBRATION if c.page is not None), key=lambda c: c.page)
"""The summary's calibration table: its columns in their order."""

FAILURE_COLUMNS = ["error", "message", "count", "first_replicate", "replicates"]
"""Failures grouped by message (``verdict.json``'s ``failures``)."""

TRUTHS_COLUMNS = ["replicate", "quantity", "true_value", "outcome", "divergences"]
"""``truths.parquet``: each replicate's true values, ``outcome`` failed, flagged or clean."""

FAILURES_BY_QUANTITY_COLUMNS = ["quantity", "n_failed", "n_flagged", "n_ok", "median_bad", "median_clean",
                                "direction", "p_value", "p_adjusted", "depends"]
"""``failures.csv``: per quantity, do failed or flagged replicates' true values differ from clean ones'?"""


# --- the archive --------------------------------------------------------------------------------

TRUE, DATA = "true__", "data__"


def make_archive(kept: xr.Dataset, truth: xr.Dataset, data: dict, quantities: list[str],
                 conditioning_rows: int = 0) -> xr.Dataset:
    """One Dataset of the kept draws (``draw`` dim), the true values and the simulated data (in
    posterior SBC, after ``conditioning_rows`` observed rows)."""
    import numpy as np
    import xarray as xr

    names = [str(n) for n in kept.data_vars]
    # built from bare arrays, not merged: no alignment and no attributes to drop (netCDF-3 keeps few)
    variables = {n: (kept[n].dims, kept[n].to_numpy()) for n in names}
    variables.update({TRUE + n: (truth[n].dims, truth[n].to_numpy()) for n in names})
    variables.update({DATA + k: (tuple(f"{DATA}{k}_dim_{i}" for i in range(np.ndim(v))), np.asarray(v, dtype=float))
                      for k, v in data.items()})
    coords = {c: (kept.coords[c].dims, kept.coords[c].to_numpy()) for c in kept.coords}
    archived = xr.Dataset(variables, coords=coords)
    # netCDF does not keep variable order; recompute needs the run-time order (ties share one stream)
    archived.attrs["quantities"] = json.dumps(list(quantities))
    archived.attrs["conditioning_rows"] = int(conditioning_rows)
    return archived


def archived_quantities(archived: xr.Dataset) -> list[str]:
    """The quantities ranked at run time, in their run-time order."""
    return json.loads(archived.attrs["quantities"])


def unpack(archived: xr.Dataset) -> tuple[xr.Dataset, xr.Dataset, dict]:
    """Split an archive into kept draws, true values and simulated data."""
    names = [str(n) for n in archived.data_vars]
    draws = archived[[n for n in names if not n.startswith((TRUE, DATA))]]
    true_names = [n for n in names if n.startswith(TRUE)]
    truth = archived[true_names].rename({n: n[len(TRUE):] for n in true_names})
    data = {n[len(DATA):]: archived[n].to_numpy() for n in names if n.startswith(DATA)}
    return draws, truth, data


def archive_bytes(archived: xr.Dataset) -> bytes:
    """The archive as netCDF-3 bytes (SciPy's writer: no HDF5 library needed)."""
    return bytes(archived.to_netcdf(engine="scipy"))


def read_archive(source: Path | str | bytes) -> xr.Dataset:
    import xarray as xr

    raw = source if isinstance(source, bytes) else Path(source).read_bytes()
    return xr.open_dataset(io.BytesIO(raw), engine="scipy").load()


# --- what a replicate hands on ------------------------------------------------------------------


@dataclass
class ReplicateResult:
    """What the replicate steps produce in the kernel: ranks, archive and record."""

    ranks: pd.DataFrame
    archive: xr.Dataset
    record: Record

    def write(self, output_dir: Path | str) -> None:
        """Write the side-car files next to the notebook (the worker collects them)."""
        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        self.ranks.to_parquet(out / SIDE_CARS["ranks"], index=False)
        (out / SIDE_CARS["draws"]).write_bytes(archive_bytes(self.archive))
        (out / SIDE_CARS["record"]).write_text(self.record.to_json())

    @classmethod
    def read(cls, output_dir: Path | str) -> ReplicateResult:
        made = collect(output_dir)
        return cls(ranks=made.ranks, archive=read_archive(made.draws), record=made.record)


@dataclass
class Outcome:
    """What a worker sends back for one replicate: its record, and, when it ran, its notebook, ranks
    and archive (the netCDF bytes, unparsed)."""

    record: Record
    notebook: str | None = None
    ranks: pd.DataFrame | None = None
    draws: bytes | None = None


def write_truth(truth: dict[str, float], output_dir: Path | str) -> None:
    """The truth side-car: true values by quantity label, written before the fit."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / SIDE_CARS["truth"]).write_text(json.dumps(truth))


def read_truth(output_dir: Path | str) -> dict[str, float]:
    """The truth side-car's values; empty when the replicate failed before drawing them."""
    path = Path(output_dir) / SIDE_CARS["truth"]
    try:
        return {str(k): float(v) for k, v in json.loads(path.read_text()).items()}
    except (OSError, ValueError, AttributeError):
        return {}


def collect(output_dir: Path | str) -> Outcome:
    """A notebook's side-car files as an ``Outcome`` (without the notebook)."""
    import pandas as pd

    out = Path(output_dir)
    return Outcome(record=Record.from_json((out / SIDE_CARS["record"]).read_text()),
                   ranks=pd.read_parquet(out / SIDE_CARS["ranks"]), draws=(out / SIDE_CARS["draws"]).read_bytes())


COMPARED = ("calibration", "failures", "flags")
"""What ``sbc compare`` can count as worse (``--fail-on``), in the order of its summary."""
