"""The documentation site builds with warnings as errors, its internal links resolve, and its
references list every params key, CLI option and public name the code has.

The build runs once per module (about 10-20 s), with the example notebook not executed: `make docs`
executes it (and caches the result); here its source is rendered and every other check applies.
"""

import argparse
import html
import os
import re
import subprocess
import sys
import typing
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("docs")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                           "-d", str(out / "doctrees"), "-D", "nb_execution_mode=off", str(ROOT / "docs"),
                           str(out / "html")], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "WARNING" not in done.stderr and "ERROR" not in done.stderr, done.stderr[-4000:]
    return out / "html"


class _Page(HTMLParser):
    """The ids, links and inline code of one HTML page."""

    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.code: list[str] = []
        self._in_code = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        for key in ("href", "src"):
            if attrs.get(key) and tag in ("a", "img", "link", "script"):
                self.links.append(attrs[key])
        if tag == "code":
            self._in_code += 1
            self.code.append("")

    def handle_endtag(self, tag):
        if tag == "code":
            self._in_code -= 1

    def handle_data(self, data):
        if self._in_code:
            self.code[-1] += data


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def test_every_internal_link_and_anchor_resolves(site):
    pages = {path: _parse(path) for path in site.rglob("*.html") if "_static" not in path.parts}  # theme templates
    assert len(pages) > 20
    broken = []
    for path, page in pages.items():
        for link in page.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith("data:"):
                continue
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append(f"{path.relative_to(site)}: {link}")
            elif parts.fragment and target.suffix == ".html" and parts.fragment not in pages[target].ids:
                broken.append(f"{path.relative_to(site)}: {link} (no such anchor)")
    assert not broken, "\n".join(broken)


def _models_in(annotation, in_list: bool = False) -> list[tuple[type[BaseModel], bool]]:
    if typing.get_origin(annotation) is list:
        return _models_in(typing.get_args(annotation)[0], True)
    if typing.get_args(annotation):
        return [found for arg in typing.get_args(annotation) for found in _models_in(arg, in_list)]
    return [(annotation, in_list)] if isinstance(annotation, type) and issubclass(annotation, BaseModel) else []


def _schema_keys(schema: type[BaseModel], prefix: str = "") -> dict[str, str | None]:
    """Every key of a params file and its description, found by walking the schema from the top (so a
    new section is found whether or not the reference knows of it)."""
    keys = {}
    for name, field in schema.model_fields.items():
        keys[prefix + name] = field.description
        for model, in_list in _models_in(field.annotation):
            keys |= _schema_keys(model, f"{prefix}{name}{'[]' if in_list else ''}.")
    return keys


def _all_params_keys() -> dict[str, str | None]:
    from sbc_helpers import inference
    from sbc_helpers.run.params import Campaign

    keys = _schema_keys(Campaign) | _schema_keys(inference.MethodSettings, "inference.")
    for backend in inference.BACKENDS.values():  # each method's own keys (the common ones are listed once)
        keys |= {f"inference.{k}": f.description for k, f in backend.Settings.model_fields.items()
                 if k not in ("method", "label")}
    return keys


def test_the_params_reference_lists_every_key_with_a_description(site):
    keys = _all_params_keys()
    assert {"name", "models[].bambi.formula", "thresholds.max_rhat", "cluster.adapt", "inference.target_accept",
            "sequential.resolution"} <= set(keys)
    undescribed = sorted(k for k, description in keys.items() if not description)
    assert not undescribed, f"params keys without Field(description=...): {undescribed}"
    listed = set(_parse(site / "reference" / "params.html").code)
    missing = sorted(set(keys) - listed)
    assert not missing, f"params keys missing from the generated reference: {missing}"


def _cli_options() -> dict[str, dict[str, str | None]]:
    from sbc_helpers.cli import command_parser

    sub = next(a for a in command_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {command: {(", ".join(a.option_strings) or a.dest): a.help for a in parser._actions}
            for command, parser in sub.choices.items()}


def test_the_cli_reference_lists_every_subcommand_and_option_with_its_help(site):
    options = _cli_options()
    assert {"run", "plan", "report", "status"} <= set(options)
    undescribed = sorted(f"sbc {c} {o}" for c, opts in options.items() for o, text in opts.items() if not text)
    assert not undescribed, f"options without help=: {undescribed}"
    text = (site / "reference" / "cli.html").read_text(encoding="utf-8")
    sections = re.split(r'<section id="sbc-', text)[1:]
    listed = {section.split('"', 1)[0]: set(_parse_fragment(section).code) for section in sections}
    missing = sorted(f"sbc {c} {o}" for c, opts in options.items() for o in opts
                     if o != "-h, --help" and o not in listed.get(c, set()))
    assert not missing, f"options missing from the generated CLI reference: {missing}"


def _parse_fragment(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


def test_the_api_reference_documents_every_public_name(site):
    import sbc_helpers

    ids = _parse(site / "reference" / "api.html").ids
    missing = [name for name in sbc_helpers.__all__ if f"sbc_helpers.{name}" not in ids]
    assert not missing, f"public names without an API entry: {missing}"


def test_the_generated_and_included_tables_are_on_their_pages(site):
    from sbc_helpers import inference

    methods = set(_parse(site / "guide" / "inference-methods.html").code)
    assert set(inference.BACKENDS) <= methods
    results = (ROOT / "validation" / "RESULTS.md").read_text()
    validation = html.unescape((site / "validation.html").read_text(encoding="utf-8"))
    rows = [line.split("|")[2].strip() for line in results.split("<!-- posterior-sbc:start -->")[0].splitlines()
            if line.startswith("| ") and not line.startswith("| case")]
    assert rows and all(f"<td><p>{unit}</p></td>" in validation or f"<td>{unit}</td>" in validation for unit in rows)
    posterior = html.unescape((site / "guide" / "posterior-sbc.html").read_text(encoding="utf-8"))
    assert "exact draws, sized: ESS &gt;= 20 x N" in posterior or "exact draws, sized: ESS >= 20 x N" in posterior
