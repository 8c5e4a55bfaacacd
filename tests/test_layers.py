"""The package's layers: no two modules import each other, and the statistics are plain functions
that import no model, sampler, run or report code (imports inside functions count too)."""

import ast
import itertools
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "sbc_helpers"
UPPER = ("models", "inference", "run", "report")


def _imports() -> dict[str, set[str]]:
    """Each sbc_helpers module and the sbc_helpers modules it imports, anywhere in its code."""
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(("sbc_helpers", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sbc_helpers"):
                found |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("sbc_helpers")}
        graph[name] = found
    return {name: found & set(graph) - {name} for name, found in graph.items()}


def test_no_two_modules_import_each_other():
    graph = _imports()
    assert [(a, b) for a, b in itertools.combinations(sorted(graph), 2) if b in graph[a] and a in graph[b]] == []


def test_the_statistics_import_no_model_sampler_run_or_report_code():
    upward = {name: sorted(m for m in found if m.split(".")[1] in UPPER)
              for name, found in _imports().items() if name.startswith("sbc_helpers.stats")}
    assert {name: found for name, found in upward.items() if found} == {}
