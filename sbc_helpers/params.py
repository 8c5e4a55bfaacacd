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


class Inference(Strict):
    """NUTS settings of each fit."""

    sampler: Literal["nutpie", "pymc", "numpyro", "blackjax"] = "nutpie"
    draws: int = Field(1000, ge=1)
    tune: int = Field(1000, ge=0)
    chains: int = Field(2, ge=1)
    target_accept: float = Field(0.8, gt=0, lt=1)


class ModelSpec(Strict):
    """One model under test; unset fields fall back to the campaign's."""

    name: Name
    model: str
    design: dict[str, Any] | str | None = None
    inference: dict[str, Any] = {}
    quantities: list[str] = []


class Campaign(Strict):
    """A whole SBC campaign: models, replicates, settings, and where files are looked up."""

    name: Name
    seed: int = Field(ge=0)
    replicates: int = Field(ge=1)
    rank_draws: int = Field(100, ge=1)
    design: dict[str, Any] | str = {"maker": "seed_design"}
    inference: Inference = Inference()
    models: list[ModelSpec] = Field(min_length=1)
    timeout: float = Field(1800, gt=0, description="seconds a replicate may run before it is stopped")
    retries: int = Field(1, ge=0, description="extra attempts for a replicate that fails")
    make_plots: bool = True
    kernel_reuse: int = Field(50, ge=0, description="replicates per warm kernel; 0 starts a fresh kernel each")
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
    def _enough_draws(self) -> "Campaign":
        for i, spec in enumerate(self.models):
            inference = self.inference_for(spec, where=f"models.{i}.inference")
            if self.rank_draws > inference.draws * inference.chains:
                raise ValueError(
                    f"rank_draws ({self.rank_draws}) exceeds the {inference.draws * inference.chains} "
                    f"posterior draws of model {spec.name!r} (draws x chains)"
                )
        return self

    def inference_for(self, spec: ModelSpec, where: str = "inference") -> Inference:
        """The campaign's inference settings overridden by the model's own."""
        try:
            return Inference(**{**self.inference.model_dump(), **spec.inference})
        except ValidationError as err:
            raise ValueError(f"{where}: {_first_error(err)}") from None

    def design_for(self, spec: ModelSpec) -> dict[str, Any] | str:
        """The model's design, or the campaign's."""
        return spec.design if spec.design is not None else self.design


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
