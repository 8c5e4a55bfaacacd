"""A replicate notebook's figures, chosen from the model and its design, never from column names.

- ``design_figure``: the design's numeric columns against each other (or against the row index),
  coloured by a categorical column with few levels;
- ``data_figure``: each observed variable's simulated data against a covariate of the design, or
  its histogram (bar counts when discrete) when no covariate lines up with it;
- ``trace_figure``: the chains of at most ``TRACE_ROWS`` quantities, the model's scalar variables
  (its hyperparameters) first, then the elements whose true values sit furthest out in this
  replicate, with the true value marked; the posterior summary table holds every quantity.

Figures are drawn on bare ``matplotlib.figure.Figure`` objects (no pyplot state, nothing for the
inline backend to render again) and shown as PNG at the size they are displayed. ``show`` draws
one and, if it cannot be drawn, prints a one-line note instead: a figure never fails a replicate.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable

import numpy as np
import pandas as pd
from typing import TYPE_CHECKING

from sbc_helpers.errors import one_line

if TYPE_CHECKING:  # matplotlib is imported by the first figure: a kernel that draws none never pays for it
    from matplotlib.figure import Figure

DPI = 72
MAX_LEVELS = 10  # a categorical column colours the points when it has at most this many levels
MAX_PANELS = 4
TRACE_ROWS = 5  # a model of hundreds of quantities gets a trace it can show, not one of hundreds of rows

CACHE_SIZE = 8
"""Figures and model graphs a process keeps (the same design and graph in every replicate a warm
kernel runs); the oldest goes first."""
_CACHE: dict[tuple, bytes] = {}


def text(value) -> str:
    """A label as matplotlib text: a ``$`` would start mathtext."""
    return str(value).replace("$", r"\$")


def _new_figure(**kwargs) -> Figure:
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def png(fig: Figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, pil_kwargs={"compress_level": 1})
    return buffer.getvalue()


def render(draw: Callable[..., Figure], *args, cache_key: tuple | None = None, **kwargs) -> bytes:
    """A figure as PNG bytes; with ``cache_key``, drawn once per process and reused after that (the
    design is the same in every replicate a warm kernel runs)."""
    if cache_key is not None and cache_key in _CACHE:
        return _CACHE[cache_key]
    data = png(draw(*args, **kwargs))
    if cache_key is not None:
        _CACHE[cache_key] = data
        while len(_CACHE) > CACHE_SIZE:
            del _CACHE[next(iter(_CACHE))]
    return data


class NothingToDraw(ValueError):
    """The data have nothing this figure shows (a design of labels only): a note, not a failure."""


def show(draw: Callable[..., Figure], *args, cache_key: tuple | None = None, **kwargs) -> None:
    """Display a figure as a PNG (``render``); print a one-line note if it cannot be drawn."""
    from IPython.display import Image, display

    try:
        data = render(draw, *args, cache_key=cache_key, **kwargs)
    except NothingToDraw as note:
        print(note)
        return
    except Exception as err:  # noqa: BLE001 - a figure is never worth a failed replicate
        print(f"figure not drawn ({draw.__name__}): {one_line(err)}")
        return
    display(Image(data=data, format="png"))


def design_key(design: pd.DataFrame) -> tuple:
    return ("design", int(pd.util.hash_pandas_object(design, index=True).sum()), tuple(map(str, design.columns)))


def _columns(design: pd.DataFrame, exclude=()) -> tuple[list[str], str | None]:
    """Numeric columns to plot, and a categorical column to colour by (or None)."""
    numeric, hue = [], None
    for column in design.columns:
        if column in exclude:
            continue
        values = design[column]
        if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
            if hue is None and 1 < values.nunique() <= MAX_LEVELS:
                hue = column
        elif values.nunique() > 1:
            numeric.append(column)
    return numeric, hue


def _scatter(ax, x, y, design: pd.DataFrame, hue: str | None, size: float = 12) -> None:
    """Points as markers of one line per colour: Agg stamps a line's markers far faster than it
    draws a scatter collection."""
    style = dict(ls="none", marker="o", ms=size ** 0.5, mew=0)
    if hue is None:
        ax.plot(x, y, alpha=0.7, color="C0", **style)
        return
    levels = pd.Categorical(design[hue])
    for code, level in enumerate(levels.categories):
        chosen = levels.codes == code
        ax.plot(np.asarray(x)[chosen], np.asarray(y)[chosen], alpha=0.8, color=f"C{code % 10}", label=text(level),
                **style)
    ax.legend(title=text(hue), fontsize=7, title_fontsize=7, loc="best", markerscale=1.2, frameon=False)


def _panels(n: int, width: float = 3.4, height: float = 2.7) -> tuple[Figure, list]:
    fig = _new_figure(figsize=(width * n, height), layout="constrained")
    axes = fig.subplots(1, n, squeeze=False)[0]
    return fig, list(axes)


def design_figure(design: pd.DataFrame, exclude: tuple = ()) -> Figure:
    """The design's numeric columns in pairs (or against the row index when there is one)."""
    numeric, hue = _columns(design, exclude)
    if not numeric:
        if hue is None:
            shown = [c for c in design.columns if c not in exclude][:4]
            raise NothingToDraw(f"no design figure: no column varies numerically or has 2 to {MAX_LEVELS} levels "
                                f"({', '.join(f'{c}: {design[c].nunique()} levels' for c in shown)})")
        counts = design[hue].value_counts(sort=False)
        fig, (ax,) = _panels(1)
        ax.bar([text(c) for c in counts.index], counts.to_numpy(), color="C0")
        ax.set(title=f"design: rows per {text(hue)}", ylabel="rows")
        return fig
    if len(numeric) == 1:
        fig, (ax,) = _panels(1, width=5)
        _scatter(ax, np.arange(len(design)), design[numeric[0]], design, hue)
        ax.set(xlabel="row", ylabel=text(numeric[0]), title=f"design: {text(numeric[0])} by row")
        return fig
    pairs = [(a, b) for i, a in enumerate(numeric) for b in numeric[i + 1:]][:3]
    fig, axes = _panels(len(pairs))
    for ax, (a, b) in zip(axes, pairs, strict=True):
        _scatter(ax, design[a], design[b], design, hue)
        ax.set(xlabel=text(a), ylabel=text(b))
    fig.suptitle(f"design: {len(design)} rows", fontsize=10)
    return fig


def _margins(fig: Figure, left=0.55, right=0.15, bottom=0.45, top=0.5, wspace=0.3) -> None:
    """Fixed margins in inches: constrained layout costs more than the rest of a small figure."""
    width, height = fig.get_size_inches()
    fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height,
                        wspace=wspace)


def _limits(values, pad: float = 0.05) -> tuple[float, float]:
    low, high = float(np.min(values)), float(np.max(values))
    span = high - low or abs(high) or 1.0
    return low - pad * span, high + pad * span


class _Reused:
    """Figures kept per layout and redrawn with each replicate's numbers: building a figure's axes
    and ticks costs more than drawing it, and a warm kernel draws the same layout every replicate."""

    def __init__(self, size: int = 8):
        self.size = size
        self.entries: dict[tuple, tuple[Figure, Callable]] = {}

    def get(self, key: tuple, build: Callable[[], tuple[Figure, Callable]]) -> tuple[Figure, Callable]:
        if key not in self.entries:
            if len(self.entries) >= self.size:
                self.entries.pop(next(iter(self.entries)))
            self.entries[key] = build()
        return self.entries[key]


_REUSED = _Reused()


def _data_panel(ax, name: str, values: np.ndarray, design: pd.DataFrame, numeric: list[str], hue: str | None):
    """Draw one observed variable's panel; return a function that redraws it with new values."""
    discrete = np.issubdtype(values.dtype, np.integer) or np.issubdtype(values.dtype, np.bool_)
    if values.ndim == 1 and len(values) == len(design) and numeric:
        x = design[numeric[0]].to_numpy()
        _scatter(ax, x, values, design, hue)
        points = list(ax.lines)
        codes = pd.Categorical(design[hue]).codes if hue is not None else np.zeros(len(design), dtype=int)
        ax.set_xlim(*_limits(x))
        ax.set(xlabel=text(numeric[0]), ylabel=text(name), title=f"{text(name)} against {text(numeric[0])}")

        def update(new):
            for code, line in enumerate(points):
                line.set_ydata(np.asarray(new)[codes == code])
            ax.set_ylim(*_limits(new))
        update(values)
        return update
    shape = "x".join(map(str, values.shape))
    ax.set_title(f"{text(name)} ({shape} values)", fontsize=10)
    ax.set(xlabel=text(name), ylabel="count")
    steps = ax.stairs([0], [0, 1], fill=True, color="C0", alpha=0.8)

    def update(new):
        flat = np.asarray(new).ravel()
        if discrete and flat.size and flat.min() >= 0 and flat.max() <= 60:  # a bar per count
            counts, edges = np.bincount(flat.astype(int)), None
            edges = np.arange(len(counts) + 1) - 0.5
        else:
            counts, edges = np.histogram(flat, bins=min(30, max(5, flat.size // 5)))
        steps.set_data(counts, edges)
        ax.set_xlim(edges[0], edges[-1])
        ax.set_ylim(0, max(1, counts.max()) * 1.05)
    update(values)
    return update


def data_figure(design: pd.DataFrame, data: dict[str, np.ndarray]) -> Figure:
    """Each observed variable's simulated data against the design's first numeric covariate when
    they line up row by row, else its distribution (bars of counts when discrete)."""
    names = list(data)[:MAX_PANELS]
    arrays = {name: np.asarray(data[name]) for name in names}
    key = ("data", design_key(design), tuple((n, a.shape, a.dtype.str) for n, a in arrays.items()))

    def build():
        numeric, hue = _columns(design, exclude=tuple(data))
        fig = _new_figure(figsize=(3.4 * len(names), 2.7))
        _margins(fig, top=0.65, wspace=0.4)
        axes = fig.subplots(1, len(names), squeeze=False)[0]
        updates = [_data_panel(ax, name, arrays[name], design, numeric, hue)
                   for ax, name in zip(axes, names, strict=True)]
        fig.suptitle("mock data simulated from the prior draw", fontsize=10)
        return fig, lambda new: [u(new[n]) for u, n in zip(updates, names, strict=True)]

    fig, update = _REUSED.get(key, build)
    update(arrays)
    return fig


def _scalars(posterior, truth, quantities: list[str]) -> list[tuple[str, np.ndarray, float]]:
    """(label, draws (chain, draw), true value) of every scalar element of ``quantities``."""
    from sbc_helpers.stats.ranks import scalar_quantities

    names = [name for name in quantities if name in posterior and name in truth]
    draws, true = scalar_quantities(posterior, names), scalar_quantities(truth, names)
    return [(label, values, float(true[label])) for label, values in draws.items()]


def _trace_layout(rows: int, chains: int, n_draws: int) -> tuple[Figure, Callable]:
    """A trace figure of ``rows`` quantities and a function that draws one replicate's into it."""
    from matplotlib.ticker import MaxNLocator

    fig = _new_figure(figsize=(9, 1.3 * rows + 0.5))
    _margins(fig, left=0.75, right=0.15, bottom=0.45, top=0.25, wspace=0.08)
    fig.subplots_adjust(hspace=0.45)
    axes = fig.subplots(rows, 2, squeeze=False, width_ratios=[2.2, 1], sharey="row")
    x = np.arange(n_draws)
    artists = []
    for r, (left, right) in enumerate(axes):
        # aliased: the same drawing time, a PNG a third the size (antialiased chains blend into
        # thousands of colours that compress badly, and the trace was most of a notebook's bytes)
        lines = [left.plot(x, np.zeros(n_draws), lw=0.6, alpha=0.8, color=f"C{c % 10}", antialiased=False)[0]
                 for c in range(chains)]
        steps = right.stairs([0], [0, 1], orientation="horizontal", fill=True, color="0.7")
        truths = [ax.axhline(0, color="red", lw=1.2) for ax in (left, right)]
        left.set_xlim(-0.01 * n_draws, 1.01 * n_draws)
        # tick marks and labels are most of the drawing: the trace's own, on its bottom row only
        left.yaxis.set_major_locator(MaxNLocator(3))
        left.xaxis.set_major_locator(MaxNLocator(5))
        left.tick_params(labelsize=7, bottom=r == rows - 1, labelbottom=r == rows - 1)
        right.set_xticks([])
        right.tick_params(left=False, labelleft=False)
        artists.append((left, right, lines, steps, truths))
    axes[-1][0].set_xlabel("draw (per chain)", fontsize=8)
    axes[-1][1].set_xlabel("pooled draws", fontsize=8)

    def update(chosen: list[tuple[str, np.ndarray, float, float]]) -> None:
        for (left, right, lines, steps, truths), (label, draws, value, share) in zip(artists, chosen, strict=True):
            for line, chain in zip(lines, draws, strict=True):
                line.set_ydata(chain)
            counts, edges = np.histogram(draws, bins=30)
            steps.set_data(counts, edges)
            for line in truths:
                line.set_ydata([value, value])
            left.set_ylim(*_limits(np.append(edges[[0, -1]], value)))
            right.set_xlim(0, counts.max() * 1.05)
            left.set_ylabel(text(label), fontsize=8)
            right.set_title(f"true value above {share:.0%} of draws", fontsize=8)
    return fig, update


def trace_figure(idata, truth, quantities: list[str], n: int = TRACE_ROWS) -> Figure:
    """Chains and pooled draws of at most ``n`` scalar quantities, the true value marked in red:
    the scalar variables among ``quantities`` first (up to ``n - 1``: a hierarchical model's
    hyperparameters), then the elements whose true values sit furthest out among their draws."""
    posterior = idata["posterior"].to_dataset() if hasattr(idata, "children") else idata
    scalars = _scalars(posterior, truth, quantities)
    if not scalars:
        raise ValueError("no ranked quantity has posterior draws to show")
    share = [float(np.mean(draws < value)) for _, draws, value in scalars]
    whole = [i for i, (label, _, _) in enumerate(scalars) if label in quantities][:n - 1]
    # a quantity constant to rounding (an LKJ diagonal) has no histogram to draw
    varying = {i for i, (_, draws, _) in enumerate(scalars) if np.ptp(draws) > 1e-9 * max(1.0, np.abs(draws).max())}
    furthest = sorted(varying - set(whole), key=lambda i: -abs(share[i] - 0.5))
    chosen = whole + furthest[:n - len(whole)]
    chains, n_draws = scalars[0][1].shape
    fig, update = _REUSED.get(("trace", len(chosen), chains, n_draws),
                              lambda: _trace_layout(len(chosen), chains, n_draws))
    update([(*scalars[i], share[i]) for i in chosen])
    return fig


def model_graph(model):
    """The model's graph (``pm.model_to_graphviz``) as SVG, or a one-line note if it cannot be drawn.

    graphviz's ``dot`` runs once per distinct graph in a process: every replicate of a campaign
    builds the same graph, and a warm kernel shows the first one's drawing again. Without graphviz
    the replicate goes on: nothing after this needs the graph."""
    import pymc as pm
    from IPython.display import SVG

    try:
        svg = _svg(pm.model_to_graphviz(model).source)
    except Exception as err:  # noqa: BLE001 - graphviz's `dot` missing, or a graph it cannot lay out
        return print(f"model graph not drawn: {one_line(err)}")
    return SVG(svg)


@functools.lru_cache(maxsize=CACHE_SIZE)
def _svg(source: str) -> str:
    """A DOT graph laid out by graphviz as SVG."""
    import graphviz

    return graphviz.Source(source).pipe(format="svg", encoding="utf-8")
