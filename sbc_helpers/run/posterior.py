"""Reference posteriors for posterior SBC: one fit per model to its observed data, before any
replicate, kept in the campaign folder so that a resumed campaign draws from the same one.

The reference is sized to the campaign. Its draws are thinned to close-to-independent draws and
shuffled, and replicate r takes draw r (``simulation.conditioning``), so no true value is used twice;
their ESS must reach ``reference_ess_ratio`` times the campaign's replicates (its maximum when
sequential). A fit with ``reference_inference`` (NUTS by default, seeded from the campaign seed and
the model name) that falls short is followed by further fits, each with the method's chains and as
many draws per chain as the ESS measured so far says are missing (with a margin), appended after
the draws already there; a resumed campaign that asks for more replicates extends its reference the
same way, and earlier replicates keep their true values. A reference that cannot get there within
``MAX_FITS`` fits or ``MAX_VALUES`` values per fit stops the run with one line saying what to change.

The draws are stamped with what they depend on; a campaign whose data, design, model or reference
settings changed refuses to reuse them, since replicates drawn from two references cannot be pooled.
"""

import hashlib
import json
import logging
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import xarray as xr

from sbc_helpers import inference
from sbc_helpers.contract import CAMPAIGN_FILES, archive_bytes, read_archive
from sbc_helpers.errors import ParamsError, one_line
from sbc_helpers.run import store
from sbc_helpers.run.params import Campaign, ModelSpec
from sbc_helpers.run.seeds import reference_seed
from sbc_helpers.simulation import conditioning

log = logging.getLogger("sbc")
MAX_FITS = 4  # the first fit and up to three extensions
MAX_VALUES = 50_000_000  # draws x scalars one extension may hold (400 MB of float64)
MARGIN = 1.25  # an extension asks for this many times the missing ESS: ESS estimates vary between fits


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


def needed_ess(campaign: Campaign) -> float:
    """The ESS a reference posterior must reach for this campaign."""
    return campaign.reference_ess_ratio * campaign.replicates


class _Fitter:
    """Fits of one model's reference posterior: the model, its observed data and settings, built once."""

    def __init__(self, campaign: Campaign, spec: ModelSpec):
        from sbc_helpers.run import steps

        self.campaign, self.spec = campaign, spec
        design = steps.load_design(campaign.design_for(spec), campaign.base_dir)
        bambi = spec.bambi.model_dump() if spec.bambi else None
        self.model = steps.build(design, spec.model or "", spec.model_kwargs, bambi, "", campaign.base_dir).model
        self.observed = conditioning.read_observed(data_path(campaign, spec), self.model, len(design))
        self.settings = spec.reference_settings
        self.chains = self.settings.total_draws // self.settings.draws

    def fit(self, part: int, draws: int | None = None) -> "Part":
        """Fit ``part`` (0: the first; others extend it) with ``draws`` per chain (None: the
        settings'), as a part of the reference (``reference_part``)."""
        settings = self.settings.model_dump(exclude={"label"}, exclude_none=True)
        if draws is not None:
            settings["draws"] = draws
        seed = reference_seed(self.campaign.seed, self.spec.name, part)
        try:
            fitted = inference.fit(self.model, self.observed, seed=seed, base_dir=self.campaign.base_dir, **settings)
        except Exception as err:
            raise ParamsError(f"{self.spec.name}: the reference fit to {self.spec.conditional_on} failed: "
                              + one_line(err)) from None
        _warn_if_unconverged(self.spec, fitted)
        posterior = fitted.idata["posterior"].to_dataset()[[rv.name for rv in self.model.free_RVs]]
        return reference_part(posterior, fitted.independent, seed, self.spec.name)


Part = tuple[xr.Dataset, float, int, bool]  # independent draws in random order, their ESS, draws fitted, independent


def reference_part(posterior: xr.Dataset, independent: bool, seed: int, name: str) -> Part:
    """One fit's draws (``chain``, ``draw`` dims) as a part of a reference: its close-to-independent
    draws in random order, its ESS, the draws fitted and whether they are independent."""
    ess = conditioning.effective_size(posterior, independent)
    if not ess >= 1:
        raise ParamsError(f"{name}: the reference posterior's ESS cannot be estimated (a free variable keeps one "
                          "value across its draws): check the model and reference_inference")
    size = posterior.sizes["chain"] * posterior.sizes["draw"]
    return conditioning.independent_draws(posterior, ess, seed), ess, size, independent


def size_reference(name: str, replicates: int, ratio: float, fit: Callable[[int, int | None], Part], chains: int,
                   existing: xr.Dataset | None = None) -> xr.Dataset:
    """A reference whose ESS reaches ``ratio`` x ``replicates``: ``existing`` (or nothing) followed
    by parts from ``fit(part, draws per chain)`` (None: the method's own draws) until it does, each
    extension sized from the ESS per draw measured so far. Its attrs record the ESS, the draws
    fitted, the fits and whether their draws are independent."""
    target = ratio * replicates
    pool = existing
    ess, fitted, fits, independent = ((float(existing.attrs["ess"]), int(existing.attrs["fitted_draws"]),
                                      int(existing.attrs["fits"]), bool(existing.attrs["independent"]))
                                      if existing is not None else (0.0, 0, 0, False))
    while fits == 0 or ess < target:
        draws = None
        if fits:
            missing = (target - ess) * (fitted / ess) * (1 if independent else MARGIN)
            draws = math.ceil(missing / chains)
            scalars = sum(v.size for v in pool.data_vars.values()) // pool.sizes["draw"]
            if fits >= MAX_FITS or draws * chains * scalars > MAX_VALUES:
                raise ParamsError(
                    f"{name}: the reference posterior's ESS is {ess:.0f} from {fitted} draws, and {replicates} "
                    f"replicates need {target:.0f} (reference_ess_ratio {ratio:g}), about {draws * chains} more "
                    "draws: give fewer replicates, a lower reference_ess_ratio, or a reference_inference that mixes "
                    "better")
            log.info("%s: the reference posterior's ESS is %.0f from %d draws; %d replicates need %.0f: extending it "
                     "by %d chain(s) x %d draws", name, ess, fitted, replicates, target, chains, draws)
        part, part_ess, part_draws, independent = fit(fits, draws)
        pool = part if pool is None else xr.concat([pool, part], "draw")
        ess, fitted, fits = ess + part_ess, fitted + part_draws, fits + 1
    pool.attrs.update(ess=ess, fitted_draws=fitted, fits=fits, independent=int(independent))
    return pool


def sized_reference(campaign: Campaign, spec: ModelSpec, existing: xr.Dataset | None = None) -> xr.Dataset:
    """The reference posterior of a model, sized to ``campaign`` (``size_reference``): ``existing``
    as it is when its ESS suffices, else extended, or fitted when there is none."""
    if existing is not None and existing.attrs["ess"] >= needed_ess(campaign):
        return existing
    fitter = _Fitter(campaign, spec)
    return size_reference(spec.name, campaign.replicates, campaign.reference_ess_ratio, fitter.fit, fitter.chains,
                          existing)


def _warn_if_unconverged(spec: ModelSpec, fitted) -> None:
    if fitted.independent or fitted.idata["posterior"].sizes.get("chain", 1) < 2:
        return
    import arviz_stats

    rhat = float(np.nanmax([v.max() for v in arviz_stats.rhat(fitted.idata).to_dataset().data_vars.values()]))
    if rhat > 1.01:
        log.warning("%s: the reference posterior's R-hat reaches %.3f: the true values of posterior SBC are "
                    "drawn from a fit that may not have converged", spec.name, rhat)


def prepare(campaign: Campaign, folder: Path) -> dict[str, Path]:
    """Fit, extend or reuse the reference posterior of every posterior-SBC model; model name -> file."""
    paths = {}
    for spec in campaign.models:
        if spec.conditional_on is None:
            continue
        path, stamp = reference_path(folder, spec), _stamp(campaign, spec)
        existing = read_archive(path) if path.is_file() else None
        if existing is not None and existing.attrs.get("stamp") != stamp:
            raise ParamsError(f"{spec.name}: the data, design, model or reference_inference changed since its "
                              f"reference posterior was fitted ({path.name}); run into a new output folder")
        if existing is not None and "ess" not in existing.attrs:
            raise ParamsError(f"{spec.name}: {path.name} is a reference posterior from an earlier version of sbc, "
                              "whose replicates drew true values with replacement; run into a new output folder")
        if existing is None:
            log.info("%s: fitting the reference posterior to %s", spec.name, Path(spec.conditional_on).name)
        draws = sized_reference(campaign, spec, existing)
        if draws is not existing:
            draws.attrs["stamp"] = stamp
            path.parent.mkdir(parents=True, exist_ok=True)
            store.atomic_write(path, archive_bytes(draws))
        log.info("%s: the reference posterior's ESS is %.0f, %.1f per replicate (%d draws in %d fit(s))", spec.name,
                 draws.attrs["ess"], draws.attrs["ess"] / campaign.replicates, draws.attrs["fitted_draws"],
                 draws.attrs["fits"])
        paths[spec.name] = path
    return paths


def reference_summary(folder: Path, spec: ModelSpec, replicates: int) -> dict | None:
    """What the report says of a model's reference posterior: its ESS, the ESS per replicate, the
    draws fitted and the independent draws kept (None: no reference on disk)."""
    path = reference_path(folder, spec)
    if spec.conditional_on is None or not path.is_file():
        return None
    attrs = read_archive(path).attrs
    return {"ess": float(attrs["ess"]), "ratio": float(attrs["ess"]) / replicates,
            "fitted_draws": int(attrs["fitted_draws"]), "fits": int(attrs["fits"])}
