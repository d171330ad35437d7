"""Who owns what in a mechanism module, read from its syntax tree for the static gate.

:mod:`sandbox.gate_values` allows a private attribute only as the module's own state on
``self`` or ``cls`` inside one of its methods. These helpers answer the questions that rule
needs: which private names the module defines, which of its functions are methods, what a
function body binds (so a rebound ``self`` is seen), which classes read private attributes
(their methods must never run on a foreign object), and where a class name may appear.
"""

from __future__ import annotations

import ast

# The names a method's first parameter conventionally has: the module's own instance or class.
OWNER_NAMES = frozenset({"self", "cls"})
# Decorators after which a function in a class body does not take the instance first.
NOT_INSTANCE = frozenset({"staticmethod", "classmethod"})
# Builtins that take a class as an argument without calling its methods.
CLASS_TESTS = frozenset({"isinstance", "issubclass", "super"})


def is_private(attr: str) -> bool:
    return attr.startswith("_") and not (attr.startswith("__") and attr.endswith("__"))


def decorator_names(func: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    names = set()
    for dec in func.decorator_list:
        target = dec.func if isinstance(dec, ast.Call) else dec
        if isinstance(target, ast.Name):
            names.add(target.id)
        elif isinstance(target, ast.Attribute):
            names.add(target.attr)
    return names


def first_param(func: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> str | None:
    args = [*func.args.posonlyargs, *func.args.args]
    return args[0].arg if args else None


def params(func: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> set[str]:
    a = func.args
    names = {x.arg for x in [*a.posonlyargs, *a.args, *a.kwonlyargs]}
    names.update(x.arg for x in (a.vararg, a.kwarg) if x is not None)
    return names


def bound_in_body(func: ast.AST) -> list[str]:
    """Names a function body binds (every binding, so one shadowing ``self`` is seen),
    not counting nested functions, lambdas and classes, which are their own scopes."""
    found: list[str] = []
    todo = list(ast.iter_child_nodes(func))
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found.append(node.name)
            todo.extend(node.decorator_list)
            continue
        if isinstance(node, ast.Lambda | ast.arguments):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            found.append(node.id)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            found.extend(node.names)
        elif isinstance(node, ast.MatchAs | ast.MatchStar) and node.name:
            found.append(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            found.append(node.rest)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            found.append(node.name)
        elif isinstance(node, ast.alias):
            found.append(node.asname or node.name.split(".")[0])
        todo.extend(ast.iter_child_nodes(node))
    return found


def own_private(nodes: list[ast.AST]) -> set[str]:
    """Private names the module itself defines: in a class body, or stored on self/cls."""
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.ClassDef):
            for stmt in node.body:
                if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    names.add(stmt.name)
                targets = (
                    stmt.targets
                    if isinstance(stmt, ast.Assign)
                    else [stmt.target]
                    if isinstance(stmt, ast.AnnAssign)
                    else []
                )
                names.update(t.id for t in targets if isinstance(t, ast.Name))
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.ctx, ast.Store)
            and isinstance(node.value, ast.Name)
            and node.value.id in OWNER_NAMES
        ):
            names.add(node.attr)
    return {n for n in names if is_private(n)}


def instance_methods(nodes: list[ast.AST]) -> set[str]:
    """Names in the module's class bodies that may hold a function taking an instance: every
    def that is not a static or class method, and every alias of a name or a lambda."""
    names: set[str] = set()
    for node in nodes:
        if not isinstance(node, ast.ClassDef):
            continue
        for stmt in node.body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                if not decorator_names(stmt) & NOT_INSTANCE:
                    names.add(stmt.name)
            elif isinstance(stmt, ast.Assign) and isinstance(
                stmt.value, ast.Name | ast.Attribute | ast.Lambda
            ):
                names.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
    return names


def private_readers(nodes: list[ast.AST]) -> set[str]:
    """Classes (by name) with a method that reads a private attribute of self or cls, and
    every class of the module that derives from one."""
    classes = [n for n in nodes if isinstance(n, ast.ClassDef)]
    readers = {
        cls.name
        for cls in classes
        if any(
            isinstance(n, ast.Attribute)
            and is_private(n.attr)
            and isinstance(n.value, ast.Name)
            and n.value.id in OWNER_NAMES
            for n in ast.walk(cls)
        )
    }
    grew = True
    while grew:
        before = len(readers)
        for cls in classes:
            if any(isinstance(b, ast.Name) and b.id in readers for b in cls.bases):
                readers.add(cls.name)
        grew = len(readers) != before
    return readers


def allowed_class_uses(nodes: list[ast.AST]) -> set[int]:
    """Ids of the Name nodes where a class may appear: called, as a base, in an attribute
    (checked on its own), a class pattern, or an argument of isinstance/issubclass/super."""
    ids: set[int] = set()
    for node in nodes:
        if isinstance(node, ast.Call):
            ids.add(id(node.func))
            if isinstance(node.func, ast.Name) and node.func.id in CLASS_TESTS:
                for arg in node.args:
                    ids.add(id(arg))
                    if isinstance(arg, ast.Tuple):
                        ids.update(id(e) for e in arg.elts)
        elif isinstance(node, ast.ClassDef):
            ids.update(id(b) for b in node.bases)
        elif isinstance(node, ast.Attribute):
            ids.add(id(node.value))
        elif isinstance(node, ast.MatchClass):
            ids.add(id(node.cls))
    return ids
