"""Reference posteriors for posterior SBC: one fit per model to its observed data, before any
replicate, kept in the campaign folder so that a resumed campaign draws from the same one.

The fit runs once, in the driver, with the model's ``reference_inference`` (NUTS by default) and a
seed derived from the campaign seed and the model name. Its draws are stamped with what they
depend on; a campaign whose data, design, model or reference settings changed refuses to reuse
them, since replicates drawn from two references cannot be pooled.
"""

import hashlib
import json
import logging
from pathlib import Path

import numpy as np

from sbc_helpers import inference
from sbc_helpers.contract import CAMPAIGN_FILES, archive_bytes, read_archive
from sbc_helpers.errors import ParamsError
from sbc_helpers.models import conditioning
from sbc_helpers.run import store
from sbc_helpers.run.params import Campaign, ModelSpec
from sbc_helpers.run.seeds import reference_seed

log = logging.getLogger("sbc")
MIN_DRAWS = 400  # fewer reference draws would make replicates share true values often


def reference_path(folder: Path, spec: ModelSpec) -> Path:
    return Path(folder) / CAMPAIGN_FILES["references"] / f"{spec.name}.nc"


def data_path(campaign: Campaign, spec: ModelSpec) -> Path:
    path = Path(spec.conditional_on)
    return path if path.is_absolute() else campaign.base_dir / path


def _stamp(campaign: Campaign, spec: ModelSpec) -> str:
    fields = spec.model_dump(mode="json", include={"model", "bambi", "model_kwargs", "reference_inference"})
    parts = [json.dumps([fields, campaign.design_for(spec), campaign.seed], sort_keys=True, default=str).encode(),
             data_path(campaign, spec).read_bytes()]
    return hashlib.sha256(b"\0".join(parts)).hexdigest()[:16]


def fit_reference(campaign: Campaign, spec: ModelSpec):
    """The reference posterior's draws of the free variables (``draw`` dim), fitted to the data."""
    from sbc_helpers.run import steps

    design = steps.load_design(campaign.design_for(spec), campaign.base_dir)
    bambi = spec.bambi.model_dump() if spec.bambi else None
    built = steps.build(design, spec.model or "", spec.model_kwargs, bambi, "", campaign.base_dir)
    observed = conditioning.read_observed(data_path(campaign, spec), built.model, len(design))
    settings = spec.reference_settings.model_dump(exclude={"label"}, exclude_none=True)
    try:
        fitted = inference.fit(built.model, observed, seed=reference_seed(campaign.seed, spec.name),
                               base_dir=campaign.base_dir, **settings)
    except Exception as err:
        raise ParamsError(f"{spec.name}: the reference fit to {spec.conditional_on} failed: "
                          f"{type(err).__name__}: {' '.join(str(err).split())[:300]}") from None
    draws = conditioning.reference_draws(fitted.idata, built.model)
    if draws.sizes["draw"] < MIN_DRAWS:
        raise ParamsError(f"{spec.name}: reference_inference gives {draws.sizes['draw']} draws; posterior SBC "
                          f"needs at least {MIN_DRAWS} to draw distinct true values")
    _warn_if_unconverged(spec, fitted)
    return draws


def _warn_if_unconverged(spec: ModelSpec, fitted) -> None:
    if fitted.independent or fitted.idata["posterior"].sizes.get("chain", 1) < 2:
        return
    import arviz_stats

    rhat = float(np.nanmax([v.max() for v in arviz_stats.rhat(fitted.idata).to_dataset().data_vars.values()]))
    if rhat > 1.01:
        log.warning("%s: the reference posterior's R-hat reaches %.3f: the true values of posterior SBC are "
                    "drawn from a fit that may not have converged", spec.name, rhat)


def prepare(campaign: Campaign, folder: Path) -> dict[str, Path]:
    """Fit (or reuse) the reference posterior of every posterior-SBC model; model name -> file."""
    paths = {}
    for spec in campaign.models:
        if spec.conditional_on is None:
            continue
        path, stamp = reference_path(folder, spec), _stamp(campaign, spec)
        if path.is_file():
            if read_archive(path).attrs.get("stamp") != stamp:
                raise ParamsError(f"{spec.name}: the data, design, model or reference_inference changed since its "
                                  f"reference posterior was fitted ({path.name}); run into a new output folder")
        else:
            log.info("%s: fitting the reference posterior to %s", spec.name, Path(spec.conditional_on).name)
            draws = fit_reference(campaign, spec)
            draws.attrs["stamp"] = stamp
            path.parent.mkdir(parents=True, exist_ok=True)
            store.atomic_write(path, archive_bytes(draws))
        paths[spec.name] = path
    return paths
