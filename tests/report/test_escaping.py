"""Names a user chose reach the pages as text, never as markup.

Model, unit and derived-quantity names are checked against a name pattern when the params are
read (``run/test_params.py``); variable names and coordinate labels come from the user's model and
are escaped on every page. A campaign whose model names its variable and its coordinates with live
markup must produce pages where that markup only ever appears escaped.
"""

import fnmatch
import textwrap
import tomllib
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from processes import sbc
from sbc_helpers.report import tables
from sbc_helpers.report.pages import index_html

EVIL_LABEL = "<img src=x onerror=alert(1)>"
EVIL_NAME = "<b onmouseover=alert(2)>mu"  # PyMC refuses a "/" in a name

MODEL = textwrap.dedent(f'''
    import numpy as np
    import pymc as pm


    def build(design):
        with pm.Model(coords={{"site": [{EVIL_LABEL!r}, "plain"]}}) as model:
            mu = pm.Normal({EVIL_NAME!r}, 0, 1, dims="site")
            pm.Normal("y", mu[np.array([0, 1, 0, 1])], 1, observed=np.zeros(4))
        return model


    def posterior(model, rng, draws):
        return {{{EVIL_NAME!r}: rng.normal(size=(draws, 2))}}
''')


class LiveMarkup(HTMLParser):
    """The event-handler attributes of a page's elements, as a browser would parse them (a page may
    re-serialize raw markup, so a text search for the user's string is not enough)."""

    def __init__(self):
        super().__init__()
        self.handlers: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        self.handlers += [(tag, name) for name, _ in attrs if name in ("onerror", "onmouseover")]


def live_handlers(text: str) -> list[tuple[str, str]]:
    parser = LiveMarkup()
    parser.feed(text)
    return parser.handlers


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    folder = tmp_path_factory.mktemp("escaping")
    (folder / "evil.py").write_text(MODEL)
    (folder / "evil.yaml").write_text(
        "name: evil\nseed: 1\nreplicates: 3\nrank_draws: 10\ndesign: {maker: normal_normal_design, n_points: 4}\n"
        "inference: {method: custom, function: evil.py:posterior, draws: 20}\n"
        "models:\n  - {name: evil, model: evil.py:build}\n")
    done = sbc("run", folder / "evil.yaml", "--output-dir", folder / "out", "--workers", "1", "-q")
    assert done.returncode == 0, done.stderr
    return sorted((folder / "out" / "evil").rglob("*.html"))


@pytest.mark.slow
def test_markup_in_variable_names_and_coordinates_is_escaped_on_every_page(pages):
    assert len(pages) >= 5  # index, summary, three replicate pages
    seen = False
    for page in pages:
        text = page.read_text()
        assert EVIL_LABEL not in text and EVIL_NAME not in text, page
        assert live_handlers(text) == [], page
        seen |= "&lt;img src=x onerror=alert(1)&gt;" in text
    assert seen  # the label is there, as text


def test_every_page_template_escapes_what_it_is_given_and_ships_with_the_package():
    unit = {"unit": EVIL_NAME, "model": EVIL_NAME, "method": EVIL_LABEL, "calibrated": False, "verdict": EVIL_NAME,
            "done": 1, "replicates": 2, "failed": 1, "not_run": 0, "flagged": 0, "worker_seconds": 1.0,
            "thumbnail": True, "alpha": 0.05, "worst": [EVIL_LABEL], "conditional_on": EVIL_LABEL,
            "failures": [{"count": 1, "error": EVIL_NAME, "message": EVIL_LABEL, "first_replicate": 0}],
            "constant": [EVIL_LABEL], "sensitivity": {"n_flagged": 1, "verdict_unflagged": EVIL_NAME, "changed": True}}
    calibration = pd.DataFrame([{"quantity": EVIL_LABEL, "calibrated": False, "reading": EVIL_NAME,
                                 "p_adjusted": 0.01, "gamma_p_value": 0.01, "worst_replicate": 0}])
    page = "".join([index_html(EVIL_NAME, [unit, {**unit, "unit": "other"}], None, Path("."), {}),
                    tables.verdict_html(unit), tables.calibration_table_html(calibration, {0}, unit),
                    tables.replicate_table_html(pd.DataFrame([{"replicate": 0, "message": EVIL_LABEL}]), set())])
    assert EVIL_LABEL not in page and EVIL_NAME not in page and live_handlers(page) == []
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    root = Path(__file__).resolve().parents[2]
    shipped = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["sbc_helpers"]
    templates = sorted((root / "sbc_helpers" / "report" / "templates").iterdir())
    assert templates and all(any(fnmatch.fnmatch(str(t.relative_to(root / "sbc_helpers")), g) for g in shipped)
                             for t in templates)
