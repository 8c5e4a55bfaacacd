"""Params: read and validate a campaign's YAML file before any replicate starts.

A params file is code the user trusts: it names Python files to import and NumPy expressions to
evaluate. Names that reach file paths and pages (campaign, model, label, derived quantity) must
match ``NAME``; everything else a user names (variables, coordinates) is escaped on every page.
"""

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator, model_validator

from sbc_helpers import inference as methods
from sbc_helpers.contract import DIAGNOSTICS, NOT_UNIT_NAMES
from sbc_helpers.errors import ParamsError
from sbc_helpers.inference.base import MethodSettings
from sbc_helpers.run.clusters.kinds import KINDS, scaled_kinds
from sbc_helpers.stats import ALPHA

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
Name = Annotated[str, Field(pattern=NAME, max_length=80)]
QuantityName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$", max_length=80)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


Thresholds = create_model(
    "Thresholds", __base__=Strict,
    __doc__="Per-fit diagnostics that flag a replicate (flagged replicates stay in the statistics; the report "
            "shows whether leaving them out changes the verdict); one field per ``contract.DIAGNOSTICS``.",
    **{d.field: (d.kind, Field(d.default, description=d.description, **dict(d.bounds))) for d in DIAGNOSTICS})


class Sequential(Strict):
    """Stop each unit as soon as its verdict is sure; ``replicates`` becomes the maximum.

    Half of ``alpha`` goes to an e-process checked after every replicate (flagged: stop), half to the
    fixed-N test of the replicates a unit ends with (at its maximum, or once ``resolution`` is
    reached), so the verdict's false-alarm rate stays at most ``alpha`` however often it is looked at.
    """

    alpha: float = Field(ALPHA, gt=0, lt=1, description="false-alarm rate of the whole rule: half to the e-process, "
                         "half to the final fixed-N test")
    resolution: float | None = Field(None, gt=0, lt=0.5, description="stop once a miscalibration this large "
                                     "(in central-50%-interval coverage) is sure to be flagged")
    method: Literal["closed-mean", "bonferroni"] = Field("closed-mean", description="how the quantities' e-values "
                                                         "combine: their mean, or Bonferroni")

    @property
    def alpha_sequential(self) -> float:
        return self.alpha / 2

    @property
    def alpha_fixed(self) -> float:
        return self.alpha / 2


class BambiSpec(Strict):
    """A Bambi formula model: built once on the design, its priors fixed across replicates."""

    formula: str = Field(description="a Bambi formula, e.g. \"y ~ x + (1|group)\"")
    family: str = Field("gaussian", description="any Bambi family")
    link: str | None = Field(None, description="the link function (default: the family's)")
    priors: dict[str, Any] = Field({}, description="Bambi's prior specification as YAML, e.g. "
                                   "{x1: {dist: Normal, mu: 0, sigma: 1}} (default: Bambi's, scaled on the design)")
    noncentered: bool = Field(True, description="non-centred parametrisation of the group-specific terms")


class ModelSpec(Strict):
    """One model under test; unset fields fall back to the campaign's."""

    name: Name = Field(description="the model's output folder and heading: letters, digits, '_', '.', '-' "
                       f"(not {', '.join(sorted(NOT_UNIT_NAMES))}: the campaign's own folders)")
    model: str | None = Field(None, description="the builder: a library model, module:function or file.py:function "
                              "of the design returning a pm.Model")
    bambi: BambiSpec | None = Field(None, description="or a Bambi formula model instead of a builder")
    model_kwargs: dict[str, Any] = Field({}, description="keyword arguments passed to the builder after the design")
    design: dict[str, Any] | str | None = Field(None, description="this model's design (default: the campaign's)")
    simulator: str | None = Field(None, description="an independent generator of (truth, data): module:function "
                                  "or file.py:function of (rng, design)")
    inference: dict[str, Any] | list[dict[str, Any]] = Field({}, description="this model's method over the "
                                                              "campaign's, or a list of methods run side by side")
    quantities: list[str] = Field([], description="variables to rank (default: the free variables and the "
                                  "Deterministics not shaped like the data)")
    derived: dict[QuantityName, str] = Field({}, description="more derived test quantities, over the campaign's")
    conditional_on: str | None = Field(None, description="posterior SBC: a CSV/Parquet file of the observed data, "
                                       "rows as the design's")
    new_design: dict[str, Any] | str | None = Field(None, description="posterior SBC: the design y' is simulated on "
                                                    "(default: the design)")
    reference_inference: dict[str, Any] | None = Field(None, description="posterior SBC: the reference posterior's "
                                                       "method (default: nuts)")

    @model_validator(mode="after")
    def _one_model(self) -> "ModelSpec":
        if (self.model is None) == (self.bambi is None):
            raise ValueError("give either 'model' (a builder) or 'bambi' (a formula), not both or neither")
        if self.bambi is not None and self.model_kwargs:
            raise ValueError("model_kwargs go with 'model'; a bambi model takes its settings under 'bambi'")
        if self.conditional_on is None and (self.new_design is not None or self.reference_inference is not None):
            raise ValueError("new_design and reference_inference go with conditional_on (posterior SBC)")
        if self.conditional_on is not None and self.simulator:
            raise ValueError("conditional_on draws the true values from the reference posterior; a simulator "
                             "draws them from the prior: give one or the other")
        if self.conditional_on is not None:
            self.reference_settings  # noqa: B018 (validates the settings)
        return self

    @property
    def reference_settings(self) -> MethodSettings:
        return methods.parse_settings(self.reference_inference or {"method": "nuts"}, "reference_inference")


    @field_validator("name")
    @classmethod
    def _not_a_campaign_folder(cls, name: str) -> str:
        if name in NOT_UNIT_NAMES:
            raise ValueError(f"{name!r} is the name of a campaign folder of its own; give the model another name")
        return name

class Cluster(Strict):
    """Where the replicates run: the local cluster, or batch jobs or Kubernetes pods
    (``run.clusters``); ``sbc run --cluster/--jobs/--adapt`` override it."""

    kind: str = Field("local", description="where the workers run: local, or a kind of batch system or Kubernetes (run.clusters.KINDS)")
    jobs: int | None = Field(None, ge=1, description="jobs (pods) kept running; one ended is replaced; default 1")
    adapt: tuple[int, int] | None = Field(None, description="MIN:MAX jobs, by the queue of replicates")
    timeout: float = Field(600, gt=0, description="seconds to wait for the first worker to start")
    settings: dict[str, Any] = Field({}, description="over Dask's jobqueue.<kind>.* configuration (kubernetes: "
                                     "image, namespace, cores, memory, env)")

    @field_validator("adapt", mode="before")
    @classmethod
    def _min_max(cls, value):
        if isinstance(value, str):
            low, sep, high = value.partition(":")
            try:
                return int(low), int(high if sep else low)
            except ValueError:
                raise ValueError(f"{value!r} is not MIN:MAX jobs, e.g. 1:10") from None
        return value

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in KINDS:
            raise ValueError(f"unknown cluster kind {value!r}; choose one of {', '.join(KINDS)}")
        return value

    @model_validator(mode="after")
    def _fits_kind(self) -> "Cluster":
        kind = KINDS[self.kind]
        if not kind.scaled and (self.jobs or self.adapt or self.settings):
            raise ValueError(f"jobs, adapt and settings go with a batch or Kubernetes cluster (kind: {scaled_kinds()})")
        if self.jobs and self.adapt:
            raise ValueError("give jobs or adapt, not both")
        if self.adapt and not 1 <= self.adapt[0] <= self.adapt[1]:
            raise ValueError(f"adapt {self.adapt[0]}:{self.adapt[1]}: give MIN:MAX jobs with 1 <= MIN <= MAX")
        kind.check(self.settings)
        return self


def with_cluster(campaign: "Campaign", kind: str | None = None, jobs: int | None = None,
                 adapt: str | None = None) -> "Campaign":
    """The campaign with the command line's cluster flags over its ``cluster`` section (a new kind
    keeps the section's other keys, except ``local``, which takes none)."""
    raw = campaign.cluster.model_dump()
    if kind is not None and kind != raw["kind"]:
        raw = {"kind": kind, "timeout": raw["timeout"]} if kind == "local" else {**raw, "kind": kind}
    if jobs is not None:
        raw.update(jobs=jobs, adapt=None)
    if adapt is not None:
        raw.update(adapt=adapt, jobs=None)
    try:
        cluster = Cluster(**raw)
    except ValidationError as err:
        raise ParamsError(f"cluster (with --cluster/--jobs/--adapt): {_first_error(err)}") from None
    return campaign.model_copy(update={"cluster": cluster})


class Unit(BaseModel):
    """A model under one inference method: what one output folder holds."""

    name: str  # output folder: the model name, or model-label when a model has several methods
    spec: ModelSpec
    inference: MethodSettings


class Campaign(Strict):
    """A whole SBC campaign: models, replicates, settings, and where files are looked up."""

    name: Name = Field(description="the output folder's name under --output-dir")
    seed: int = Field(ge=0, description="each replicate's seed derives from it, the unit's name and the replicate "
                      "index, so adding replicates never changes old ones")
    replicates: int = Field(ge=1, description="replicates per unit (the maximum, when sequential)")
    rank_draws: int = Field(100, ge=1, description="L: true values are ranked among L thinned posterior draws (ranks "
                            "0..L)")
    keep_draws: int = Field(0, ge=0, description="thinned draws kept per replicate for recomputing; 0: rank_draws")
    log_likelihood: bool = Field(True, description="also rank the log-likelihood of the simulated data (log_lik)")
    derived: dict[QuantityName, str] = Field({}, description="extra test quantities: NumPy expressions of the "
                                             "variables, draws on the first axis")
    design: dict[str, Any] | str = Field({"maker": "seed_design"}, description="the data structure models are built "
                                         "on: a CSV or Parquet file, or {maker: ..., **its arguments}")
    inference: dict[str, Any] = Field({}, description="the inference method under test and its settings, shared by "
                                      "all models (default: nuts)")
    models: list[ModelSpec] = Field(min_length=1, description="the models under test")
    thresholds: Thresholds = Field(Thresholds(), description="per-fit diagnostics that flag a replicate")
    timeout: float = Field(1800, gt=0, description="seconds a replicate may run before it is stopped")
    retries: int = Field(1, ge=0, description="extra attempts for a replicate that fails")
    stop_after_failures: int = Field(3, ge=0, description="stop a unit whose first k replicates all fail alike; 0: never")
    sequential: Sequential | None = Field(None, description="sequential stopping (`{}` for its defaults); "
                                          "off when absent")
    reference_ess_ratio: float = Field(20, ge=1, description="posterior SBC: the reference posterior's ESS must be "
                                       "at least this many times the replicates (the maximum, when sequential)")
    make_plots: bool | Literal["flagged"] = Field(True, description='"flagged": figures only for fits the thresholds flag')
    kernel_reuse: int = Field(1000, ge=0, description="replicates per warm kernel; 0 starts a fresh kernel each")
    cluster: Cluster = Field(Cluster(), description="where the replicates run (sbc run --cluster, --jobs, --adapt "
                             "override it)")
    base_dir: Path = Field(Path("."), description="the folder relative paths are read from (default: the params "
                           "file's)")

    @field_validator("models")
    @classmethod
    def _unique_names(cls, models: list[ModelSpec]) -> list[ModelSpec]:
        names = [m.name for m in models]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"model names must be unique; repeated: {', '.join(duplicated)}")
        return models

    @model_validator(mode="after")
    def _check_units(self) -> "Campaign":
        methods.parse_settings(self.inference, "inference")
        if self.keep_draws and self.keep_draws < self.rank_draws:
            raise ValueError(f"keep_draws ({self.keep_draws}) must be 0 or at least rank_draws ({self.rank_draws})")
        units = self.units()
        folders = [u.name for u in units]
        if len(set(folders)) != len(folders):
            raise ValueError("two inference methods of one model share a folder name; give each a distinct 'label'")
        for unit in units:
            if self.kept_draws > unit.inference.total_draws:
                raise ValueError(f"rank_draws/keep_draws ({self.kept_draws}) exceeds the "
                                 f"{unit.inference.total_draws} posterior draws of {unit.name!r}")
        return self

    @property
    def alpha(self) -> float:
        """The level of the fixed-N verdict: half of ``sequential.alpha`` in a sequential campaign."""
        return self.sequential.alpha_fixed if self.sequential else ALPHA

    @property
    def kept_draws(self) -> int:
        return self.keep_draws or self.rank_draws

    def units(self) -> list[Unit]:
        """Every (model, inference method) pair, with its output folder name."""
        out = []
        for i, spec in enumerate(self.models):
            overrides = spec.inference if isinstance(spec.inference, list) else [spec.inference]
            if not overrides:
                raise ValueError(f"models.{i}.inference: give at least one method")
            for j, override in enumerate(overrides):
                where = f"models.{i}.inference" + (f".{j}" if isinstance(spec.inference, list) else "")
                settings = self._merge(override, where)
                label = methods.backend(settings.method).label(settings)
                name = spec.name if len(overrides) == 1 else f"{spec.name}-{label}"
                out.append(Unit(name=name, spec=spec, inference=settings))
        return out

    def _merge(self, override: dict[str, Any], where: str) -> MethodSettings:
        """A model's method: its own settings over the campaign's, of which it inherits the keys its
        method takes (all of them when the method is the same)."""
        method = override.get("method", self.inference.get("method", "nuts"))
        keys = methods.backend(method).Settings.model_fields if method in methods.BACKENDS else {}
        base = {k: v for k, v in self.inference.items() if k in keys and k != "label"}
        return methods.parse_settings({**base, **override, "method": method}, where)

    def design_for(self, spec: ModelSpec) -> dict[str, Any] | str:
        """The model's design, or the campaign's."""
        return spec.design if spec.design is not None else self.design

    def derived_for(self, spec: ModelSpec) -> dict[str, str]:
        """Derived test quantities: the campaign's and the model's own."""
        return {**self.derived, **spec.derived}

    def unit(self, name: str) -> Unit:
        return next(u for u in self.units() if u.name == name)


def _first_error(err: ValidationError) -> str:
    e = err.errors()[0]
    where = ".".join(str(p) for p in e["loc"])
    msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"].removeprefix("Value error, ")
    if e["type"] == "string_pattern_mismatch":
        msg = f"{e['input']!r} is not a valid name (letters, digits, '_', '.', '-')"
    return f"{where}: {msg}" if where else msg


def campaign_from(raw: dict, where: str = "params") -> Campaign:
    """A validated campaign from its settings (a params file's or a manifest's)."""
    try:
        return Campaign(**raw)
    except ValidationError as err:
        raise ParamsError(f"{where}: {_first_error(err)}") from None
    except (TypeError, ParamsError) as err:
        raise ParamsError(f"{where}: {err}") from None


def load_campaign(path: Path | str, replicates: int | None = None, sequential: bool = False) -> Campaign:
    """Read, validate and return a campaign; ``replicates`` overrides the file's count, and
    ``sequential`` turns sequential stopping on (with its defaults, unless the file sets it)."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: params file not found")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" (line {mark.line + 1})" if mark else ""
        raise ParamsError(f"{path}: not valid YAML{at}: {getattr(err, 'problem', err)}") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping of campaign settings at the top level")
    if replicates is not None:
        raw["replicates"] = replicates
    if sequential and not raw.get("sequential"):
        raw["sequential"] = {}
    raw.setdefault("base_dir", str(path.resolve().parent))
    return campaign_from(raw, str(path))


def dump(campaign: Campaign) -> dict:
    """The campaign as JSON-able settings (the manifest)."""
    return campaign.model_dump(mode="json")


__all__ = ["BambiSpec", "Campaign", "Cluster", "ModelSpec", "Sequential", "Thresholds", "Unit", "campaign_from",
           "dump", "load_campaign", "with_cluster"]
