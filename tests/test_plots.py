"""Replicate figures a warm kernel draws once: the model graph and the design scatters are the same
in every replicate of a model, so a campaign pays for them once per kernel, not once per replicate."""

import graphviz
import pytest

from sbc_helpers import plots
from sbc_helpers.registry import make_design, resolve_model

DESIGN = {"maker": "seed_design", "n_groups": 3, "n_points": 4, "seed": 1}


@pytest.fixture
def renders(monkeypatch):
    """Count the times graphviz's ``dot`` is run, on an empty cache."""
    monkeypatch.setattr(plots, "_SVG", {})
    calls = []
    pipe = graphviz.Digraph.pipe

    def counted(self, *args, **kwargs):
        calls.append(self.source)
        return pipe(self, *args, **kwargs)

    monkeypatch.setattr(graphviz.Digraph, "pipe", counted)
    return calls


def test_the_model_graph_is_drawn_once_per_graph(renders):
    design = make_design(DESIGN)
    first = plots.model_graph(resolve_model("hierarchical_centered")(design))
    again = plots.model_graph(resolve_model("hierarchical_centered")(design))  # the next replicate's model
    other = plots.model_graph(resolve_model("hierarchical_noncentered")(design))
    assert len(renders) == 2
    assert first.data == again.data != other.data
    assert first.data.startswith("<svg") and "sigma_alpha" in first.data
    assert "z_alpha" in other.data


def test_a_graph_that_cannot_be_drawn_gives_a_note_not_an_error(renders, monkeypatch):
    def missing(self, *args, **kwargs):
        raise graphviz.ExecutableNotFound(["dot"])

    monkeypatch.setattr(graphviz.Digraph, "pipe", missing)
    note = plots.model_graph(resolve_model("hierarchical_centered")(make_design(DESIGN)))
    assert isinstance(note, str) and note.startswith("model graph not drawn: ExecutableNotFound")


def test_the_design_scatter_is_drawn_once_per_design(monkeypatch):
    monkeypatch.setattr(plots, "_PNG", {})
    drawn = []
    scatter = plots.design_scatter
    monkeypatch.setattr(plots, "design_scatter", lambda *a, **k: drawn.append(1) or scatter(*a, **k))
    design = make_design(DESIGN)
    first = plots.design_scatter_png(design, hue="group", title="t")
    again = plots.design_scatter_png(make_design(DESIGN), hue="group", title="t")
    plots.design_scatter_png(make_design({**DESIGN, "seed": 2}), hue="group", title="t")
    assert len(drawn) == 2
    assert first.data == again.data and first.data.startswith(b"\x89PNG")
