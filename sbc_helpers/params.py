"""Params: read and validate a campaign's YAML file before any replicate starts."""

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=80)]


class ParamsError(ValueError):
    """A params file that cannot be used; the message is one line naming the key and the problem."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


METHODS = ("nuts", "advi", "fullrank_advi", "pathfinder", "exact", "custom")


class Inference(Strict):
    """One inference method under test and its settings (each method reads the keys it uses)."""

    method: Literal["nuts", "advi", "fullrank_advi", "pathfinder", "exact", "custom"] = "nuts"
    label: Name | None = None  # names the method in output folders; defaults to the method
    sampler: Literal["nutpie", "pymc", "numpyro", "blackjax"] = "nutpie"  # nuts
    draws: int = Field(1000, ge=1)  # posterior draws per chain (nuts) or in all (others)
    tune: int = Field(1000, ge=0)  # nuts
    chains: int = Field(2, ge=1)  # nuts
    target_accept: float = Field(0.8, gt=0, lt=1)  # nuts
    iterations: int = Field(20000, ge=1)  # advi, fullrank_advi
    function: str | None = None  # custom: module:function or file.py:function; exact: its posterior

    @model_validator(mode="after")
    def _function_when_needed(self) -> "Inference":
        if self.method in ("custom", "exact") and not self.function:
            raise ValueError(f"method {self.method!r} needs 'function' (module:function or file.py:function)")
        return self

    @property
    def name(self) -> str:
        return self.label or self.method

    @property
    def total_draws(self) -> int:
        return self.draws * (self.chains if self.method == "nuts" else 1)


class Thresholds(Strict):
    """Per-fit diagnostics that flag a replicate (flagged replicates stay in the statistics; the
    summary shows whether leaving them out changes the verdict)."""

    divergences: int = Field(0, ge=0, description="flag fits with more divergences than this")
    treedepth_hits: int = Field(0, ge=0)
    max_rhat: float = Field(1.01, gt=1)
    min_ess: float = Field(100, ge=0, description="bulk and tail")
    min_bfmi: float = Field(0.2, ge=0)


class ModelSpec(Strict):
    """One model under test; unset fields fall back to the campaign's."""

    name: Name
    model: str
    model_kwargs: dict[str, Any] = {}
    design: dict[str, Any] | str | None = None
    simulator: str | None = None  # module:function or file.py:function of (rng, design)
    inference: dict[str, Any] | list[dict[str, Any]] = {}
    quantities: list[str] = []
    derived: dict[str, str] = {}


class Unit(BaseModel):
    """A model under one inference method: what one output folder holds."""

    name: str  # output folder: the model name, or model-method when a model has several methods
    spec: ModelSpec
    inference: Inference


class Campaign(Strict):
    """A whole SBC campaign: models, replicates, settings, and where files are looked up."""

    name: Name
    seed: int = Field(ge=0)
    replicates: int = Field(ge=1)
    rank_draws: int = Field(100, ge=1)
    keep_draws: int = Field(0, ge=0, description="thinned draws kept per replicate for recomputing; 0: rank_draws")
    log_likelihood: bool = True
    derived: dict[str, str] = {}
    design: dict[str, Any] | str = {"maker": "seed_design"}
    inference: Inference = Inference()
    models: list[ModelSpec] = Field(min_length=1)
    thresholds: Thresholds = Thresholds()
    timeout: float = Field(1800, gt=0, description="seconds a replicate may run before it is stopped")
    retries: int = Field(1, ge=0, description="extra attempts for a replicate that fails")
    make_plots: bool = True
    # a new kernel costs a cold start (imports, compiling the model: about 12 s on the seed model);
    # a kernel's memory levels off (seed model: 556 MiB after 1 replicate, 620 MiB after 200 and 400)
    kernel_reuse: int = Field(1000, ge=0, description="replicates per warm kernel; 0 starts a fresh kernel each")
    base_dir: Path = Path(".")

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
        if self.keep_draws and self.keep_draws < self.rank_draws:
            raise ValueError(f"keep_draws ({self.keep_draws}) must be 0 or at least rank_draws ({self.rank_draws})")
        folders = [u.name for u in self.units()]
        if len(set(folders)) != len(folders):
            raise ValueError("two inference methods of one model share a label; give each a distinct 'label'")
        for unit in self.units():
            if self.kept_draws > unit.inference.total_draws:
                raise ValueError(
                    f"rank_draws/keep_draws ({self.kept_draws}) exceeds the {unit.inference.total_draws} "
                    f"posterior draws of {unit.name!r}"
                )
        return self

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
                inference = self._merge(override, where)
                name = spec.name if len(overrides) == 1 else f"{spec.name}-{inference.name}"
                out.append(Unit(name=name, spec=spec, inference=inference))
        return out

    def _merge(self, override: dict[str, Any], where: str) -> Inference:
        base = self.inference.model_dump(exclude={"label"})
        if override.get("method", self.inference.method) != self.inference.method:
            base = {k: v for k, v in base.items() if k != "function"}
        try:
            return Inference(**{**base, **override})
        except ValidationError as err:
            raise ValueError(f"{where}: {_first_error(err)}") from None

    def design_for(self, spec: ModelSpec) -> dict[str, Any] | str:
        """The model's design, or the campaign's."""
        return spec.design if spec.design is not None else self.design

    def derived_for(self, spec: ModelSpec) -> dict[str, str]:
        """Derived test quantities: the campaign's and the model's own."""
        return {**self.derived, **spec.derived}


def _first_error(err: ValidationError) -> str:
    e = err.errors()[0]
    where = ".".join(str(p) for p in e["loc"])
    msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"].removeprefix("Value error, ")
    return f"{where}: {msg}" if where else msg


def load_campaign(path: Path | str, replicates: int | None = None) -> Campaign:
    """Read, validate and return a campaign; ``replicates`` overrides the file's count."""
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
    raw.setdefault("base_dir", str(path.resolve().parent))
    try:
        return Campaign(**raw)
    except ValidationError as err:
        raise ParamsError(f"{path}: {_first_error(err)}") from None
    except TypeError as err:
        raise ParamsError(f"{path}: {err}") from None
