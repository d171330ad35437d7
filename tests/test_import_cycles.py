"""No import cycles among the project's own modules (issue 15).

The graph is read from the source (``ast``), never by importing anything. It counts every
import a module can execute, **including imports inside functions**: a function-level import
is how a cycle usually hides (Level 2's driver once imported the study loop that way), and
it still ties the two modules together, only later. Imports under ``if TYPE_CHECKING:`` are
left out: they never run. Importing ``a.b.c`` runs ``a`` and ``a.b`` too, so those count as
edges as well, except the importing module's own parent packages (already imported before
it, whatever it imports).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("contract", "orchestrator", "trainer", "sandbox")


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(name: str, path: Path) -> list[str]:
    """Every dotted name an import statement of the module can bring in (``from a import b``
    gives ``a`` and ``a.b``: b may be a submodule)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                for stmt in child.orelse:
                    visit(ast.Module(body=[stmt], type_ignores=[]))
                continue
            if isinstance(child, ast.Import):
                found.extend(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package[: len(package) - (child.level - 1)]
                    module = ".".join(base + ([child.module] if child.module else []))
                else:
                    module = child.module or ""
                found.append(module)
                found.extend(f"{module}.{alias.name}" for alias in child.names)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = set()
        for dotted in _imported(name, path):
            parts = dotted.split(".")
            for i in range(1, len(parts) + 1):
                target = ".".join(parts[:i])
                own_parent = name.startswith(target + ".")
                if target in modules and target != name and not own_parent:
                    edges.add(target)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_project_has_no_import_cycles() -> None:
    graph = import_graph()
    assert len(graph) > 100  # the walk found the packages
    assert cycles(graph) == [], "modules that import each other (directly or around a loop)"


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import() -> None:
    graph = import_graph()
    # `bilevel trial` imports the objective checks inside its command function only.
    assert "trainer.objective" in graph["orchestrator.commands.trial"]
    # Level 2's driver importing the study loop inside a method closed a loop once.
    graph["orchestrator.level2.research.driver"] = graph["orchestrator.level2.research.driver"] | {
        "orchestrator.study"
    }
    graph["orchestrator.study"] = graph["orchestrator.study"] | {
        "orchestrator.level2.research.driver"
    }
    pair = {"orchestrator.level2.research.driver", "orchestrator.study"}
    assert any(pair <= set(component) for component in cycles(graph))
