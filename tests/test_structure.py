"""The package's imports run one way: each module imports only from the layers below it.

Read from the source with `ast` (no import runs), lazy imports inside functions included, so a
new import that points up a layer, or a new module no one placed, fails here first.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

import toobig

PACKAGE = Path(toobig.__file__).parent

# Lowest first. A module, or a subpackage with everything in it, may import from the entries
# before it and never from those after it (nor from the package root, which imports them all).
LAYERS = (
    "version",
    "config",       # what a run is: the configuration and its checks
    "metrics", "ops", "tokenizer",
    "presets", "options", "studies", "sweep_file",
    "tasks",        # the corpora and their held-out sets
    "model",
    "store",        # run directories on disk
    "floors",
    "engine",       # populations trained in lockstep
    "experiments",
    "evaluation", "integrity",
    "training",
    "inference",
    "executors", "extrapolation", "export", "answers",
    "reporting",
    "reproduction",
    "api",
    "cli",
)


def module_name(path: Path) -> str:
    parts = ["toobig", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imported(name: str, path: Path) -> set[str]:
    """The toobig modules that module `name` imports, anywhere in it (the package root as
    "toobig" where a name comes from toobig/__init__ itself)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "toobig"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] != "toobig":
                continue
            # `from . import api` imports the module toobig.api; `from . import x` of anything
            # else reads the package's __init__.
            for alias in node.names:
                found.add(f"{source}.{alias.name}" if f"{source}.{alias.name}" in MODULES else source)
    return {owner(m) for m in found}


def owner(name: str) -> str:
    """The module that defines `name` (toobig.store.RunDir -> toobig.store)."""
    while name not in MODULES:
        name = name.rsplit(".", 1)[0]
    return name


def layer(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "toobig"


GRAPH = {name: imported(name, path) - {name} for name, path in MODULES.items()}


def test_every_module_has_a_layer():
    unplaced = sorted({layer(m) for m in MODULES} - set(LAYERS) - {"toobig"})
    assert not unplaced, f"add {unplaced} to LAYERS, above what they import"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if layer(n) in LAYERS))
def test_imports_point_down(name):
    here = LAYERS.index(layer(name))
    upward = sorted(m for m in GRAPH[name] if layer(m) != layer(name) and (layer(m) == "toobig" or LAYERS.index(layer(m)) > here))
    assert not upward, f"{name} (layer {layer(name)!r}) imports {upward} from a layer above it"


def test_no_import_cycles_within_a_layer():
    sorter = graphlib.TopologicalSorter(GRAPH)
    try:
        sorter.prepare()
    except graphlib.CycleError as cycle:
        pytest.fail(f"import cycle: {' -> '.join(cycle.args[1])}")


def test_the_scan_sees_the_imports_it_judges():
    # On modules whose imports are known, every form lands on the module that defines the name.
    assert {"toobig.api", "toobig.config", "toobig.version"} <= GRAPH["toobig.cli"]  # from . import api; from .x import y
    assert "toobig.store" in GRAPH["toobig.reporting"]  # from ..store import ... in a subpackage
    assert "toobig.training" in GRAPH["toobig.api"]  # inside a function only
    assert GRAPH["toobig"] == {"toobig.api", "toobig.version"}
