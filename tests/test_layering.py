"""The packages' import graph: no cycles, and the layers the README's architecture describes.

Every import counts, those inside functions too (a lazy import is still a dependency); imports under
`if TYPE_CHECKING:` do not (they never run).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("mockserver", "conformance")
# Names whose use means reading or writing files.
FILE_IO = {"open", "Path", "read_text", "read_bytes", "write_text", "write_bytes", "resources"}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node, leaving out the bodies of `if TYPE_CHECKING:` blocks."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for other in node.orelse:
                yield other
                yield from _runtime_nodes(other)
            continue
        yield node
        yield from _runtime_nodes(node)


def _imports(name: str) -> set[str]:
    """The project modules `name` imports (`from a import b` names module `a.b` when there is one)."""
    tree = ast.parse(MODULES[name].read_text("utf-8"))
    found: set[str] = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in MODULES else node.module)
    return {module for module in found if module in MODULES and module != name}


GRAPH = {name: _imports(name) for name in MODULES}


def _cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(GRAPH[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(GRAPH):
        if node not in index:
            visit(node)
    return cycles


def test_the_import_graph_has_no_cycle() -> None:
    assert _cycles() == []


def test_the_graph_sees_lazy_imports() -> None:
    # state.py imports the session kinds inside open_session: that edge must be in the graph.
    assert "mockserver.protocol.realtime" in GRAPH["mockserver.state"]


@pytest.mark.parametrize("layer", ["mockserver.protocol", "mockserver.audio", "mockserver.sip"])
def test_the_core_imports_only_the_core(layer: str) -> None:
    allowed = {"mockserver.protocol": ("mockserver.protocol", "mockserver.audio"), "mockserver.audio": (
        "mockserver.audio",), "mockserver.sip": ("mockserver.sip", "mockserver.audio")}[layer]  # SIP's sans-I/O half
    outside = {name: sorted(m for m in deps if not m.startswith(allowed))
               for name, deps in GRAPH.items() if name == layer or name.startswith(layer + ".")}
    assert {name: deps for name, deps in outside.items() if deps} == {}


@pytest.mark.parametrize("name", [n for n in MODULES
                                  if n.startswith(("mockserver.protocol", "mockserver.audio", "mockserver.sip."))])
def test_the_core_does_no_file_io(name: str) -> None:
    tree = ast.parse(MODULES[name].read_text("utf-8"))
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    used |= {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    used |= {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
             for alias in node.names}
    assert used & FILE_IO == set()


def test_only_the_cli_joins_the_two_packages() -> None:
    """conformance uses the mock (it is one of its targets); the mock never uses conformance, except the
    CLI, which is where every command is wired."""
    users = sorted(name for name, deps in GRAPH.items()
                   if name.startswith("mockserver") and any(d.startswith("conformance") for d in deps))
    assert users == ["mockserver.cli"]
