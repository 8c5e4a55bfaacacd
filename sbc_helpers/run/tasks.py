"""The tasks of a run: the replicate template's parameters for each unit, the user files they refer
to (``file.py:function`` references, CSV/Parquet designs) shipped with each task so workers need no
shared filesystem, and one task per replicate not yet complete on disk."""

from __future__ import annotations

import hashlib
import os
from importlib.resources import files as package_files
from pathlib import Path

from sbc_helpers.run import store
from sbc_helpers.run.execute import ReplicateTask
from sbc_helpers.run.params import Campaign, Unit
from sbc_helpers.run.seeds import replicate_seed


def template_path(name: str = "sbc_replicate.ipynb") -> Path:
    """A template notebook shipped with the package (package data, so an installed wheel has it)."""
    return Path(str(package_files("sbc_helpers") / "templates" / name))


SHIPPED = "sbc_files"  # folder, in a worker's scratch space, that shipped user files are written to


def _ship_file(path: Path, files: dict[str, bytes]) -> str:
    """Add the file at ``path`` to ``files``; return where it lands in the worker's scratch folder.

    The folder is named by the content's hash, so two files of the same name do not collide.
    """
    data = path.read_bytes()
    relative = f"{SHIPPED}/{hashlib.sha256(data).hexdigest()[:16]}/{path.name}"
    files[relative] = data
    return relative


def _ship(reference: str | None, base_dir: Path, files: dict[str, bytes]) -> str:
    """A ``file.py:function`` or ``file.pkl:name`` reference rewritten to the shipped copy of its
    file; others unchanged."""
    if not reference:
        return ""
    target, sep, func = reference.rpartition(":")
    if sep and target.endswith((".py", ".pkl")):
        path = Path(target) if Path(target).is_absolute() else Path(base_dir) / target
        return f"{_ship_file(path, files)}:{func}"
    return reference


def _design_parameter(design, base_dir: Path, files: dict[str, bytes]) -> dict:
    if isinstance(design, dict) and set(design) == {"file"}:
        design = design["file"]
    if isinstance(design, str):  # a CSV/Parquet file: its bytes travel with the task
        path = Path(design) if Path(design).is_absolute() else Path(base_dir) / design
        return {"file": _ship_file(path, files)}
    return {k: (_ship(v, base_dir, files) if k == "maker" else v) for k, v in design.items()}


def unit_parameters(campaign: Campaign, unit: Unit, cores: int, files: dict[str, bytes],
                    reference: Path | None = None) -> dict:
    """The replicate template's parameters for one (model, inference method) unit: exactly
    ``contract.UNIT_PARAMETERS``, in their order (the worker adds each replicate's own).

    User files the unit refers to are added to ``files`` (path in the worker's scratch folder ->
    content) and the parameters point at those copies, relative to the kernel's working folder;
    so is the ``reference`` posterior's file of a posterior-SBC unit.
    """
    inference = unit.inference.model_dump(exclude={"label"}, exclude_none=True)
    if inference.get("function"):
        inference["function"] = _ship(inference["function"], campaign.base_dir, files)
    chains = getattr(unit.inference, "chains", 1)
    return {
        "model": _ship(unit.spec.model, campaign.base_dir, files),
        "model_kwargs": dict(unit.spec.model_kwargs),
        "bambi": unit.spec.bambi.model_dump() if unit.spec.bambi else {},
        "design": _design_parameter(campaign.design_for(unit.spec), campaign.base_dir, files),
        "simulator": _ship(unit.spec.simulator, campaign.base_dir, files),
        "inference": inference,
        "cores": min(cores, chains),
        "rank_draws": campaign.rank_draws,
        "keep_draws": campaign.kept_draws,
        "quantities": list(unit.spec.quantities),
        "derived": campaign.derived_for(unit.spec),
        "log_likelihood": campaign.log_likelihood,
        "make_plots": campaign.make_plots,
        "thresholds": campaign.thresholds.model_dump(),
        "conditional_on": _conditioning_parameter(campaign, unit, files, reference),
    }


def _conditioning_parameter(campaign: Campaign, unit: Unit, files: dict[str, bytes], reference: Path | None) -> dict:
    spec = unit.spec
    if spec.conditional_on is None:
        return {}
    data = Path(spec.conditional_on)
    shipped = {"data": _ship_file(data if data.is_absolute() else campaign.base_dir / data, files)}
    if spec.new_design is not None:
        shipped["new_design"] = _design_parameter(spec.new_design, campaign.base_dir, files)
    if reference is not None:
        shipped["reference"] = _ship_file(reference, files)
    return shipped


def cores_per_replicate(campaign: Campaign, workers: int, scheduler: str | None) -> int:
    """The cores each replicate's fit may use: one on a remote cluster (one single-threaded worker
    per core there), else this machine's cores shared among its ``workers``."""
    remote = scheduler or campaign.cluster.kind != "local"
    return 1 if remote else max(1, (os.cpu_count() or 1) // workers)


def plan(campaign: Campaign, folder: Path, cores: int, skip_units: set[str] = frozenset(),
         references: dict[str, Path] | None = None) -> tuple[list[ReplicateTask], int]:
    """Tasks for every replicate not yet complete on disk (none for ``skip_units``), and how many
    were skipped; ``references``: the reference posterior's file of each posterior-SBC model."""
    template = template_path().read_text()
    tasks, skipped = [], 0
    for unit in campaign.units():
        if unit.name in skip_units:
            continue
        files: dict[str, bytes] = {}
        parameters = unit_parameters(campaign, unit, cores, files, (references or {}).get(unit.spec.name))
        for r in range(campaign.replicates):
            if store.state(store.unit_dir(folder, unit.name), r) == "complete":
                skipped += 1
                continue
            tasks.append(ReplicateTask(
                unit=unit.name, replicate=r, seed=replicate_seed(campaign.seed, unit.name, r),
                template=template, parameters=parameters, timeout=campaign.timeout,
                kernel_reuse=campaign.kernel_reuse, files=files,
            ))
    return tasks, skipped
