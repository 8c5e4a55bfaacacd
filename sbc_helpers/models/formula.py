"""Bambi formula models: ``bambi: {formula: "y ~ x1 + (1|site)", family: ..., priors: ...}`` in
a params file instead of ``model:``.

Bambi scales its default priors by the data, the response's spread among them. The model is
built once, from the design (whose response column sets those scales), and every replicate
conditions that one model on its simulated data, so the priors stay fixed across replicates.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from sbc_helpers.errors import ParamsError


def _prior(spec: Any):
    """A YAML prior (``{dist: Normal, mu: 0, sigma: {dist: HalfNormal, sigma: 1}}``) as a ``bmb.Prior``."""
    import bambi as bmb

    if isinstance(spec, dict) and "dist" in spec:
        return bmb.Prior(spec["dist"], **{k: _prior(v) for k, v in spec.items() if k != "dist"})
    if isinstance(spec, dict):
        raise ParamsError(f"a prior is a mapping with 'dist' and its parameters; got keys {', '.join(map(str, spec))}")
    return spec


def response_name(formula: str) -> str:
    """The response of a formula, ``y`` in ``y ~ x``."""
    left, sep, _ = formula.partition("~")
    if not sep or not left.strip():
        raise ParamsError(f"formula {formula!r} has no response: write it as 'y ~ terms'")
    return left.strip()


def build_formula_model(design: pd.DataFrame, formula: str, family: str = "gaussian", link: str | None = None,
                        priors: dict | None = None, noncentered: bool = True):
    """The PyMC model of a Bambi formula on ``design``, and Bambi's description of it with its priors."""
    try:
        import bambi as bmb
    except ImportError:
        raise ParamsError("a bambi model needs the bambi package, which is not installed: pip install bambi") from None
    response = response_name(formula)
    if response not in design:
        raise ParamsError(f"the design has no column {response!r} for the formula's response (it has: "
                          f"{', '.join(map(str, design.columns))}); Bambi sets its default priors from it")
    kwargs = {"family": family, "priors": {k: _prior(v) for k, v in (priors or {}).items()},
              "noncentered": noncentered}
    if link is not None:
        kwargs["link"] = link
    try:
        formula_model = bmb.Model(formula, design, **kwargs)
        formula_model.build()
    except ParamsError:
        raise
    except Exception as err:
        raise ParamsError(f"bambi could not build {formula!r}: {type(err).__name__}: {err}") from None
    return formula_model.backend.model, str(formula_model)
