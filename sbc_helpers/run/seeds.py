"""Seeds: every replicate's seed derives from (campaign seed, model name, replicate index) alone,
so adding replicates or models, or running them in another order or place, never changes a result."""

import hashlib

import numpy as np


def _name_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")


def replicate_seed(campaign_seed: int, model_name: str, replicate: int) -> int:
    """The seed of one replicate, a 31-bit integer (papermill passes it through a notebook intact)."""
    seq = np.random.SeedSequence([int(campaign_seed), _name_key(model_name), int(replicate)])
    return int(seq.generate_state(1)[0] >> 1)


def stream_seeds(seed: int) -> dict[str, int]:
    """Independent seeds for the steps of a replicate: simulate, fit, rank (tie breaking)."""
    children = np.random.SeedSequence(int(seed)).spawn(3)
    names = ("simulate", "fit", "rank")
    return {n: int(c.generate_state(1)[0] >> 1) for n, c in zip(names, children, strict=True)}


def reference_seed(campaign_seed: int, model_name: str, part: int = 0) -> int:
    """The seed of a model's reference fit in posterior SBC (``part``: the fits that extend the
    first; no replicate shares any of them)."""
    seq = np.random.SeedSequence([int(campaign_seed), _name_key(model_name), *([int(part)] if part else [])])
    return int(seq.generate_state(1)[0] >> 1)
