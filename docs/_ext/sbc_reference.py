"""Sphinx extension: pages get their reference tables from the code at every build, in place of a
``<!-- generated: NAME -->`` line: the params keys and CLI options (``sbc_helpers.reference``), the
inference methods' table, and the public API (autodoc of every name ``sbc_helpers`` exports)."""

import inspect
import re

import sbc_helpers
from sbc_helpers import inference, reference


def api_markdown() -> str:
    """An autodoc entry for each public name of ``sbc_helpers``, in ``__all__``'s order."""
    lines = ["```{eval-rst}"]
    for name in sbc_helpers.__all__:
        obj = getattr(sbc_helpers, name)
        if inspect.isclass(obj) and issubclass(obj, BaseException):
            lines += [f".. autoexception:: sbc_helpers.{name}", ""]
        elif inspect.isclass(obj):
            own = [k for k, v in vars(obj).items() if not k.startswith("_") and getattr(v, "__doc__", None)
                   and (inspect.isfunction(v) or isinstance(v, property))]
            lines += [f".. autoclass:: sbc_helpers.{name}", f"   :members: {', '.join(own)}" if own else "", ""]
        else:
            lines += [f".. autofunction:: sbc_helpers.{name}", ""]
    return "\n".join([*lines, "```"])


GENERATED = {"params": reference.params_markdown, "cli": reference.cli_markdown,
             "methods": inference.settings_markdown, "api": api_markdown}
MARKER = re.compile(r"<!-- generated: (\w+) -->")


def _fill(app, docname: str, source: list[str]) -> None:
    def generated(match: re.Match) -> str:
        app.env.sbc_generated = getattr(app.env, "sbc_generated", set()) | {docname}  # kept with the environment
        return GENERATED[match.group(1)]()

    source[0] = MARKER.sub(generated, source[0])


def _always_outdated(app, env, added, changed, removed) -> list[str]:
    """Read the pages with generated parts again on every build: the code they come from is not a
    source file Sphinx watches."""
    return [name for name in getattr(env, "sbc_generated", ()) if name in env.found_docs]


def setup(app):
    app.connect("source-read", _fill)
    app.connect("env-get-outdated", _always_outdated)
    return {"parallel_read_safe": False, "parallel_write_safe": True}
