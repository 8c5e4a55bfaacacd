"""A replicate's figures: chosen from the model and its design, drawn for any shape of data, never
a reason for a replicate to fail; the design and the model graph drawn once per kernel."""

import graphviz
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from sbc_helpers.models.references import make_design, resolve_model
from sbc_helpers.report import figures

DESIGN = {"maker": "seed_design", "n_groups": 3, "n_points": 4, "seed": 1}


def _axes_text(fig) -> str:
    texts = [fig._suptitle.get_text() if fig._suptitle else ""]
    for ax in fig.axes:
        texts += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
    return " | ".join(texts)


@pytest.mark.parametrize("design, expected", [
    (pd.DataFrame({"dose": [0.1, 0.5, 0.9, 1.3], "site": list("abab")}), ["dose", "row"]),
    (pd.DataFrame({"x1": np.arange(6.0), "x2": np.arange(6.0) ** 2, "w": [1, 2, 1, 2, 1, 3]}), ["x1", "x2", "w"]),
    (pd.DataFrame({"county": list("abcabc")}), ["rows per county"]),
])
def test_the_design_figure_uses_the_designs_own_columns(design, expected):
    text = _axes_text(figures.design_figure(design))
    assert all(word in text for word in expected), text


def test_a_categorical_column_with_few_levels_colours_the_design():
    design = pd.DataFrame({"a": np.arange(8.0), "b": np.arange(8.0)[::-1], "site": list("pqrspqrs")})
    fig = figures.design_figure(design)
    legend = fig.axes[0].get_legend()
    assert legend is not None and [t.get_text() for t in legend.get_texts()] == list("pqrs")


@pytest.mark.parametrize("data, expected", [
    ({"counts": np.array([0, 3, 1, 7, 2, 0])}, ["counts against exposure"]),  # one per design row
    ({"y": np.random.default_rng(0).normal(size=(6, 3))}, ["y (6x3 values)"]),  # multi-dimensional
    ({"y": np.random.default_rng(0).normal(size=11)}, ["y (11 values)"]),  # longer than the design
    ({"a": np.arange(6.0), "b": np.array([1, 0, 1, 1, 0, 0])}, ["a against exposure", "b against exposure"]),
])
def test_the_data_figure_draws_any_observed_shape(data, expected):
    design = pd.DataFrame({"exposure": np.linspace(1, 2, 6), "site": list("ababab")})
    text = _axes_text(figures.data_figure(design, data))
    assert all(word in text for word in expected), text


def test_without_a_covariate_discrete_data_get_a_bar_of_counts():
    fig = figures.data_figure(pd.DataFrame({"g": list("aabb")}), {"k": np.array([0, 2, 2, 5])})
    (bars,) = fig.axes[0].patches
    np.testing.assert_array_equal(bars.get_data().values, [1, 0, 2, 0, 0, 1])  # counts of 0..5


def _posterior(values: dict) -> xr.Dataset:
    return xr.Dataset({k: (("chain", "draw", *[f"{k}_dim_{i}" for i in range(np.ndim(v) - 2)]), v)
                       for k, v in values.items()})


def test_the_trace_shows_the_scalar_variables_then_the_elements_whose_truth_is_furthest_out():
    rng = np.random.default_rng(1)
    posterior = _posterior({"mu": rng.normal(size=(2, 50)), "tau": rng.normal(size=(2, 50)),
                            "theta": rng.normal(size=(2, 50, 4))})
    truth = xr.Dataset({"mu": 0.0, "tau": 0.1, "theta": ("theta_dim_0", [0.0, 0.2, 9.0, -0.1])})
    fig = figures.trace_figure(posterior, truth, ["mu", "tau", "theta"], n=3)
    labels = [ax.get_ylabel() for ax in fig.axes[::2]]
    assert labels == ["mu", "tau", "theta[2]"]  # the scalar variables, then the truth far out
    assert "above 100% of draws" in fig.axes[5].get_title()


def test_a_trace_of_hundreds_of_elements_shows_a_few_rows():
    rng = np.random.default_rng(3)
    draws = rng.normal(size=(2, 40, 300))
    far = [17, 250]  # true values beyond every draw of these two elements
    values = np.zeros(300)
    values[far] = [-9.0, 9.0]
    posterior = _posterior({"mu": rng.normal(size=(2, 40)), "z": draws})
    fig = figures.trace_figure(posterior, xr.Dataset({"mu": 0.0, "z": ("z_dim_0", values)}), ["mu", "z"])
    labels = [ax.get_ylabel() for ax in fig.axes[::2]]
    assert len(labels) == figures.TRACE_ROWS and labels[0] == "mu"
    assert set(labels[1:3]) == {"z[17]", "z[250]"}


def test_a_reused_trace_figure_shows_the_new_replicate():
    """The figure of a layout is built once per kernel and redrawn: nothing of the last one stays."""
    rng = np.random.default_rng(2)
    draws = lambda shift: _posterior({"mu": shift + rng.normal(size=(2, 50)), "tau": rng.normal(size=(2, 50))})  # noqa: E731
    first = figures.png(figures.trace_figure(draws(0.0), xr.Dataset({"mu": 0.0, "tau": 0.0}), ["mu", "tau"]))
    fig = figures.trace_figure(draws(100.0), xr.Dataset({"mu": 100.0, "tau": 0.0}), ["mu", "tau"])
    low, high = fig.axes[0].get_ylim()
    assert low < 100 < high and low > 90
    np.testing.assert_allclose(fig.axes[0].lines[2].get_ydata(), [100, 100])  # the true value
    assert figures.png(fig) != first


def test_a_figure_that_cannot_be_drawn_prints_one_line_and_the_replicate_goes_on(capsys):
    def broken(design):
        raise KeyError("y")

    figures.show(broken, pd.DataFrame())
    out = capsys.readouterr().out
    assert out == "figure not drawn (broken): KeyError: 'y'\n"


def test_a_design_of_labels_only_says_there_is_no_design_figure(capsys):
    # one label per row (an animal's id): nothing to plot, which is a note rather than a failure
    figures.show(figures.design_figure, pd.DataFrame({"Tier": [f"a{i}" for i in range(30)]}))
    assert capsys.readouterr().out == "no design figure: no column varies numerically or has 2 to 10 levels (Tier: 30 levels)\n"


def test_dollar_signs_in_names_are_text_not_mathtext():
    design = pd.DataFrame({"cost $": [1.0, 2.0, 3.0], "gain $": [2.0, 1.0, 0.0]})
    figures.png(figures.design_figure(design))  # a lone "$" would raise in mathtext


@pytest.fixture
def renders(monkeypatch):
    """Count the times graphviz's ``dot`` is run, on an empty cache."""
    figures._svg.cache_clear()
    calls = []
    pipe = graphviz.Source.pipe

    def counted(self, *args, **kwargs):
        calls.append(self.source)
        return pipe(self, *args, **kwargs)

    monkeypatch.setattr(graphviz.Source, "pipe", counted)
    yield calls
    figures._svg.cache_clear()


def test_the_model_graph_is_drawn_once_per_graph(renders):
    design = make_design(DESIGN)
    first = figures.model_graph(resolve_model("hierarchical_centered")(design))
    again = figures.model_graph(resolve_model("hierarchical_centered")(design))  # the next replicate's model
    other = figures.model_graph(resolve_model("hierarchical_noncentered")(design))
    assert len(renders) == 2
    assert first.data == again.data != other.data
    assert first.data.startswith("<svg") and "sigma_alpha" in first.data


def test_a_graph_that_cannot_be_drawn_gives_a_note_not_an_error(renders, monkeypatch, capsys):
    def missing(self, *args, **kwargs):
        raise graphviz.ExecutableNotFound(["dot"])

    monkeypatch.setattr(graphviz.Source, "pipe", missing)
    assert figures.model_graph(resolve_model("hierarchical_centered")(make_design(DESIGN))) is None
    assert capsys.readouterr().out.startswith("model graph not drawn: ExecutableNotFound")


def test_the_design_figure_is_drawn_once_per_design(monkeypatch):
    monkeypatch.setattr(figures, "_CACHE", {})
    drawn = []
    monkeypatch.setattr("IPython.display.display", lambda *a, **k: None)

    def design_figure(design):
        drawn.append(1)
        return figures.design_figure(design)

    for spec in (DESIGN, DESIGN, {**DESIGN, "seed": 2}):
        design = make_design(spec)
        figures.show(design_figure, design, cache_key=figures.design_key(design))
    assert len(drawn) == 2


def test_the_figure_cache_keeps_the_latest_few(monkeypatch):
    monkeypatch.setattr(figures, "_CACHE", {})
    drawn = []
    for key in [*range(figures.CACHE_SIZE + 3), 0]:
        figures.render(lambda: drawn.append(key) or _tiny_figure(), cache_key=(key,))
    assert len(figures._CACHE) == figures.CACHE_SIZE and drawn.count(0) == 2  # the first was let go


def _tiny_figure():
    from matplotlib.figure import Figure

    return Figure(figsize=(1, 1))
