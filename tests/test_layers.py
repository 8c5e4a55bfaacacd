"""The package's layers: no two modules import each other, each layer imports only the layers
below it, and no module imports another module's private names (imports inside functions count
too).

From the bottom: ``models`` (model sources), ``compiled`` (the compile cache), then ``simulation``
(true values) and ``inference`` (fits), neither importing the other; ``stats`` are plain functions
of arrays and tables."""

import ast
import itertools
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "sbc_helpers"
NOT_BELOW = {
    "models": ("compiled", "simulation", "inference", "stats", "run", "report"),
    "compiled": ("models", "simulation", "inference", "stats", "run", "report"),
    "simulation": ("inference", "run", "report"),
    "inference": ("simulation", "run", "report"),
    "stats": ("models", "compiled", "simulation", "inference", "run", "report"),
}


def _module(path: Path) -> str:
    return ".".join(("sbc_helpers", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")


def _imports() -> dict[str, set[str]]:
    """Each sbc_helpers module and the sbc_helpers modules it imports, anywhere in its code."""
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sbc_helpers"):
                found |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("sbc_helpers")}
        graph[_module(path)] = found
    return {name: found & set(graph) - {name} for name, found in graph.items()}


def test_no_two_modules_import_each_other():
    graph = _imports()
    assert [(a, b) for a, b in itertools.combinations(sorted(graph), 2) if b in graph[a] and a in graph[b]] == []


def test_each_layer_imports_nothing_from_the_layers_above_or_beside_it():
    upward = {name: sorted(m for m in found if m.split(".")[1] in NOT_BELOW[name.split(".")[1]])
              for name, found in _imports().items() if name.count(".") and name.split(".")[1] in NOT_BELOW}
    assert {name: found for name, found in upward.items() if found} == {}


def test_no_module_imports_a_private_name_of_another():
    private = [f"{_module(path)}:{node.lineno} {node.module}.{a.name}"
               for path in PACKAGE.rglob("*.py") for node in ast.walk(ast.parse(path.read_text()))
               if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sbc_helpers")
               for a in node.names if a.name.startswith("_")]
    assert private == []
