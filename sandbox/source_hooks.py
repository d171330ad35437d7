"""Which hooks a mechanism module defines, read host-side from its source (never run).

The contract tests must cover every hook a promoted mechanism will be called on, so the
hooks to test come from here, not from anything the module's process says about itself
(which module code could forge). A module passes this reading when its top level defines
exactly one class deriving from :class:`sandbox.api.Mechanism` (directly or through other
classes of the module) and that class, or one of its in-module bases, defines at least one
of ``guide``, ``propose`` and ``screen``. The sandbox then checks that the loaded class has
exactly these hooks.
"""

from __future__ import annotations

import ast
import threading
from dataclasses import dataclass

from contract.hooks import HOOKS

API_MODULE = "sandbox.api"
BASE_CLASS = "Mechanism"
# CPython 3.11's AST constructor keeps its recursion bookkeeping in shared state: parses
# in parallel threads (one per mechanism of a hook stage) can fail with a SystemError.
_PARSE_LOCK = threading.Lock()


def parse_source(source: str) -> ast.Module:
    """``ast.parse``, one thread at a time (see _PARSE_LOCK)."""
    with _PARSE_LOCK:
        return ast.parse(source)


@dataclass(frozen=True)
class SourceHooks:
    """The one Mechanism subclass of a module and its hooks, or why there is none."""

    class_name: str = ""
    hooks: tuple[str, ...] = ()
    problem: str = ""


def _mechanism_refs(tree: ast.Module) -> tuple[set[str], set[str]]:
    """Names bound to ``Mechanism`` and dotted prefixes bound to the ``sandbox.api`` module."""
    names: set[str] = set()
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and not node.level:
            for alias in node.names:
                if node.module == API_MODULE and alias.name == BASE_CLASS:
                    names.add(alias.asname or alias.name)
                elif node.module == "sandbox" and alias.name == "api":
                    modules.add(alias.asname or "api")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == API_MODULE:
                    modules.add(alias.asname or API_MODULE)
    return names, modules


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return None if inner is None else f"{inner}.{node.attr}"
    return None


def _defined_names(cls: ast.ClassDef) -> set[str]:
    """Names a class body binds: methods and class attributes."""
    found: set[str] = set()
    for stmt in cls.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            found.add(stmt.name)
        elif isinstance(stmt, ast.Assign):
            found.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            found.add(stmt.target.id)
    return found


def source_hooks(source: str) -> SourceHooks:
    """The hooks ``source``'s one Mechanism subclass defines; never raises."""
    try:
        return _source_hooks(source)
    except (SyntaxError, ValueError) as exc:
        return SourceHooks(problem=f"the module does not parse ({type(exc).__name__})")
    except Exception as exc:  # RecursionError on absurd nesting, a bug here: a rejection
        return SourceHooks(problem=f"the module's classes could not be read ({type(exc).__name__})")


def _source_hooks(source: str) -> SourceHooks:
    tree = parse_source(source)
    names, modules = _mechanism_refs(tree)
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    is_mechanism: dict[str, bool] = {}

    def derives(name: str, seen: frozenset[str] = frozenset()) -> bool:
        if name in is_mechanism:
            return is_mechanism[name]
        result = False
        for base in classes[name].bases:
            ref = _dotted(base)
            if ref is None:
                continue
            direct = ref in names or ref in {f"{m}.{BASE_CLASS}" for m in modules}
            inherited = ref in classes and ref not in seen and derives(ref, seen | {name})
            result = result or direct or inherited
        is_mechanism[name] = result
        return result

    found = [name for name in classes if derives(name)]
    if len(found) != 1:
        listed = ", ".join(found) or "none"
        return SourceHooks(
            problem=(
                "a mechanism module must define exactly one subclass of Mechanism at its top "
                f"level; found {len(found)} ({listed})"
            )
        )
    hooks: set[str] = set()
    todo, seen = [found[0]], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        hooks |= _defined_names(classes[name]) & set(HOOKS)
        todo += [ref for b in classes[name].bases if (ref := _dotted(b)) in classes]
    if not hooks:
        return SourceHooks(
            class_name=found[0],
            problem=f"{found[0]} overrides no hook: define guide, propose or screen",
        )
    return SourceHooks(class_name=found[0], hooks=tuple(h for h in HOOKS if h in hooks))
