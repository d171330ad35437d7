"""Which top-level packages a generated module imports, read from its syntax tree.

Parsing is not executing: :func:`ast.parse` never runs the module. The gate ladder is what
rejects a module; this only names, for the journal and the summary, the packages behind a
rejection ("needs torch, which the sandbox does not ship"), whatever the gate's wording.
"""

from __future__ import annotations

import ast

# The mechanism API itself is always importable inside the sandbox.
ALWAYS_AVAILABLE = frozenset({"sandbox", "__future__"})


def imported_packages(source: str) -> list[str]:
    """Top-level package names ``source`` imports, in order of first appearance."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module.split(".")[0])
    return list(dict.fromkeys(names))


def missing_packages(source: str, allowlist: list[str] | set[str]) -> list[str]:
    """Imported packages that are neither allowed nor part of the mechanism API."""
    allowed = {a.split(".")[0] for a in allowlist} | ALWAYS_AVAILABLE
    return [name for name in imported_packages(source) if name not in allowed]
