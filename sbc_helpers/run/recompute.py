"""Recompute: re-rank every finished replicate from its archive, without refitting.

A new derived quantity, a smaller L, the log-likelihood on or off: ranks come from each replicate's
kept draws through the same ``ranks_from_archive`` the replicate ran. Every new ranks file is
staged first and swapped in only when all of them succeeded, so a failure leaves the old ranks
intact.
"""

import os
from pathlib import Path

from sbc_helpers.contract import archived_quantities, read_archive, replicate_path
from sbc_helpers.errors import ParamsError, SBCError
from sbc_helpers.run import store
from sbc_helpers.run.preflight import conditioning_of
from sbc_helpers.run.params import Campaign


def recompute(campaign_dir: Path, campaign: Campaign) -> int:
    """Re-rank every complete replicate with ``campaign``'s settings (rank_draws, quantities,
    derived, log_likelihood). Returns how many were re-ranked."""
    from sbc_helpers.run import steps

    staged: list[tuple[str, Path]] = []
    try:
        for unit in campaign.units():
            folder = store.unit_dir(campaign_dir, unit.name)
            model = None
            if campaign.log_likelihood:
                design = steps.load_design(campaign.design_for(unit.spec), campaign.base_dir)
                bambi = unit.spec.bambi.model_dump() if unit.spec.bambi else None
                model = steps.build(design, unit.spec.model or "", unit.spec.model_kwargs, bambi, "",
                                    campaign.base_dir, conditioning_of(unit.spec)).model
            for r in range(campaign.replicates):
                if store.state(folder, r) != "complete":
                    continue
                record = store.read_record(folder, r)
                archived = read_archive(replicate_path(folder, r, "draws"))
                if archived.sizes["draw"] < campaign.rank_draws:
                    raise ParamsError(f"rank_draws={campaign.rank_draws} needs that many kept draws; {unit.name} "
                                      f"replicate {r} kept {archived.sizes['draw']} (raise keep_draws and rerun)")
                try:
                    ranks = steps.ranks_from_archive(archived, unit.spec.quantities or archived_quantities(archived),
                                                     campaign.rank_draws, record.seed, campaign.derived_for(unit.spec),
                                                     model)
                except SBCError as err:
                    raise ParamsError(f"{unit.name} replicate {r}: {err}") from None
                ranks.insert(0, "replicate", r)
                staged.append(_stage(replicate_path(folder, r, "ranks"), ranks.to_parquet(index=False)))
    except BaseException:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
        raise
    for tmp, target in staged:
        os.replace(tmp, target)
    record_reranked(campaign_dir, campaign)
    return len(staged)


def record_reranked(campaign_dir: Path, campaign: Campaign) -> None:
    """Note the new ranking settings in each unit's identity, so that a later ``sbc run`` with them
    resumes; what the fits were made from stays as recorded."""
    from sbc_helpers.run.claims import RERANK, identity

    for unit in campaign.units():
        folder = store.unit_dir(campaign_dir, unit.name)
        before = store.read_identity(folder)
        if before is not None:
            now = identity(campaign, unit)
            store.write_identity(folder, {**before, **{k: now[k] for k in RERANK}})


def _stage(target: Path, data: bytes) -> tuple[str, Path]:
    """Write ``data`` beside ``target`` under a temporary name (``clean_partial_writes`` removes
    leftovers); return the temporary name and the target."""
    fd, tmp = store.temporary_file(target)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return tmp, target
