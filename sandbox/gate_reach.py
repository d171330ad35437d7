"""The static gate's second pass: imports and what attribute chains on them reach.

RestrictedPython knows nothing about imports; this pass, over the untransformed syntax tree,
tracks which local names are bound to modules and follows every attribute chain rooted at
one through :func:`sandbox.gate_names.module_attributes`: a private attribute, a walk to a
module outside the allowlist or to one that does I/O, a denied name, a module used as a
value or assigned to are rejected. It also rejects dunder access (defining protocol methods
is checked by the RestrictedPython policy in :mod:`sandbox.gate`) and format-string walks.
"""

from __future__ import annotations

import ast
import string

from RestrictedPython.transformer import INSPECT_ATTRIBUTES

from sandbox.gate_names import (
    API_MODULE,
    DEFINABLE_DUNDERS,
    DENIED_MODULE_ATTRS,
    DENIED_NAMES,
    STDLIB_ALLOWED,
    denied_module,
    keyed_names,
    module_attributes,
    module_names,
    top_allowed,
)

DUNDER_RULE = (
    "dunder access is not allowed in a mechanism (defining methods such as __init__ or __eq__ "
    "and calling super().__init__() are); use the API's public fields"
)

# A class whose missing attributes its own Python code answers (OptimizeResult reads them
# from its keys): numpy would read an __array_interface__ stored under a computed key.
KEYED_RULE = (
    "answers missing attributes from its data (numpy would read __array_interface__ from it: "
    "raw memory); it is not allowed in a mechanism; use the values a solver returns"
)


def fail(errors: list[str], node: ast.AST, code: str, rule: str) -> None:
    errors.append(f"line {getattr(node, 'lineno', 0)}: `{code}` — {rule}")


class Reach(ast.NodeVisitor):
    """Imports, module aliases and what attribute chains on them reach; dunder and denied
    attributes; format strings. Runs on the untransformed tree."""

    def __init__(self, third_party: frozenset[str]) -> None:
        self.errors: list[str] = []
        self.third_party = third_party
        self.modules: dict[str, str] = {}  # local name -> module it is bound to
        self._handled: set[int] = set()  # nodes already seen as part of a larger chain
        self._checked: set[int] = set()  # chain links whose attribute the module walk checked
        self._literal_formats: set[int] = set()  # `"...".format` on a checked literal

    # ---------------------------------------------------------------- imports
    def _resolve(self, node: ast.AST, dotted: str, shown: str) -> str | None:
        """The module ``dotted`` names, or None after recording why it may not be imported."""
        parts = dotted.split(".")
        top = parts[0]
        if top == "sandbox" and dotted not in ("sandbox", API_MODULE):
            fail(
                self.errors,
                node,
                shown,
                f"only {API_MODULE} may be imported from the sandbox package",
            )
            return None
        if not top_allowed(top, self.third_party):
            allowed = sorted({*STDLIB_ALLOWED, *self.third_party} - {"__future__"})
            fail(
                self.errors,
                node,
                shown,
                f"package not in the sandbox; allowed: {', '.join(allowed)}, {API_MODULE}",
            )
            return None
        current = top
        for part in parts[1:]:
            reached = self._step(node, current, part, shown, importing=True)
            if reached is None:
                return None
            current = reached
        return current

    def _step(
        self, node: ast.AST, module: str, attr: str, shown: str, *, importing: bool = False
    ) -> str | None:
        """``module.attr`` when it is an allowed module; None when it is not a module (the
        walk ends there) or after recording why it may not be reached."""
        if attr.startswith("_"):
            fail(
                self.errors,
                node,
                shown,
                f"private attribute `{attr}` of module {module} is not allowed; use its public API",
            )
            return None
        if attr in DENIED_NAMES or attr in DENIED_MODULE_ATTRS:
            rule = DENIED_NAMES.get(attr) or DENIED_MODULE_ATTRS[attr]
            fail(self.errors, node, shown, f"`{attr}` {rule}; it is not allowed in a mechanism")
            return None
        if attr in keyed_names(module):
            fail(self.errors, node, shown, KEYED_RULE)
            return None
        attrs = module_attributes(module)
        target = None if attrs is None else attrs.get(attr)
        if target is None:
            if importing:
                fail(self.errors, node, shown, f"{module}.{attr} is not a module of the sandbox")
            elif attr not in module_names(module):
                fail(
                    self.errors,
                    node,
                    shown,
                    f"`{attr}` is not a public name of {module} in the sandbox's pinned version; "
                    "use a documented public function or class",
                )
            return None
        why = denied_module(target)
        if why is None and any(p.startswith("_") for p in target.split(".")):
            why = "is a private module"
        if why is None and not top_allowed(target, self.third_party):
            why = "is a module outside the import allowlist"
        if why is None and module_attributes(target) is None:
            why = "is a module the gate does not know"
        if why:
            fail(self.errors, node, shown, f"{target} {why}; a mechanism may not reach it")
            return ""  # reached something forbidden: reported, and not usable further
        return target

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            shown = f"import {alias.name}" + (f" as {alias.asname}" if alias.asname else "")
            target = self._resolve(node, alias.name, shown)
            if target:
                local = alias.asname or alias.name.split(".")[0]
                self.modules[local] = target if alias.asname else alias.name.split(".")[0]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        names = ", ".join(a.name for a in node.names)
        shown = f"from {'.' * node.level}{node.module or ''} import {names}"
        if node.level:
            fail(
                self.errors,
                node,
                shown,
                "relative imports are not allowed; a mechanism is a single module",
            )
            return
        if node.module == "__future__":
            return
        module = self._resolve(node, node.module or "", shown)
        if not module:
            return
        for alias in node.names:
            if alias.name == "*":
                continue  # RestrictedPython reports star imports
            target = self._step(node, module, alias.name, shown)
            if target:
                self.modules[alias.asname or alias.name] = target

    # ---------------------------------------------------------- attributes
    def visit_Attribute(self, node: ast.Attribute) -> None:
        if id(node) not in self._handled:
            self._chain(node)
        attr = node.attr
        if id(node) in self._checked:
            pass  # reported by the module walk
        elif attr.startswith("__") and attr.endswith("__"):
            value = node.value
            on_super = (
                isinstance(value, ast.Call)
                and isinstance(value.func, ast.Name)
                and value.func.id == "super"
            )
            if not (on_super and attr in DEFINABLE_DUNDERS):
                fail(self.errors, node, f".{attr}", DUNDER_RULE)
        elif attr.startswith("__"):
            fail(
                self.errors,
                node,
                f".{attr}",
                "attributes starting with two underscores are not allowed; use one",
            )
        elif attr in INSPECT_ATTRIBUTES:
            fail(
                self.errors,
                node,
                f".{attr}",
                "frame and traceback internals are not allowed in a mechanism",
            )
        elif attr in DENIED_NAMES:
            fail(
                self.errors,
                node,
                f".{attr}",
                f"`{attr}` {DENIED_NAMES[attr]}; it is not allowed in a mechanism",
            )
        elif attr == "format" and id(node) not in self._literal_formats:
            fail(
                self.errors,
                node,
                ".format",
                "format() may only be called on a string literal; use an f-string",
            )
        self.generic_visit(node)

    def _chain(self, node: ast.Attribute) -> None:
        """Check a whole attribute chain rooted at a module name, from its outermost node."""
        chain: list[ast.Attribute] = []
        inner: ast.AST = node
        while isinstance(inner, ast.Attribute):
            chain.append(inner)
            inner = inner.value
        self._handled.update(id(n) for n in chain)
        if not (isinstance(inner, ast.Name) and inner.id in self.modules):
            return
        self._handled.add(id(inner))
        current: str | None = self.modules[inner.id]
        shown = inner.id
        for link in reversed(chain):
            shown += f".{link.attr}"
            if current:
                current = self._step(link, current, link.attr, shown)
                self._checked.add(id(link))
            elif current is None and link.attr.startswith("_"):
                # Past the last module: still the module's objects (`random.Random._x`).
                fail(
                    self.errors,
                    link,
                    shown,
                    "private attributes of an imported module's objects are not allowed; use the public API",
                )
                self._checked.add(id(link))
        if current:  # the chain ends on a module: it is being used as a value
            self._module_as_value(node, shown)
        if isinstance(node.ctx, ast.Store | ast.Del):
            fail(
                self.errors,
                node,
                shown,
                "assigning to or deleting attributes of a module is not allowed",
            )

    def _module_as_value(self, node: ast.AST, shown: str) -> None:
        fail(
            self.errors,
            node,
            shown,
            "a module may only be used to reach its functions and classes (`np.mean(x)`); import what you need by name, and do not reuse a module's name for a variable",
        )

    def visit_Name(self, node: ast.Name) -> None:
        loaded = isinstance(node.ctx, ast.Load)
        if loaded and node.id in self.modules and id(node) not in self._handled:
            self._module_as_value(node, node.id)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Constant)
            and func.attr == "format"
            and isinstance(func.value.value, str)
        ):
            self._literal_formats.add(id(func))
            if why := _format_walk(func.value.value):
                fail(self.errors, node, ".format", why)
        self.generic_visit(node)

    def visit_MatchClass(self, node: ast.MatchClass) -> None:
        for attr in node.kwd_attrs:  # `case C(x=...)` reads attribute x of the subject
            if attr.startswith("__") or attr in DENIED_NAMES or attr in INSPECT_ATTRIBUTES:
                fail(
                    self.errors,
                    node,
                    attr,
                    "this attribute may not be matched; use the API's public fields",
                )
        self.generic_visit(node)


def _format_walk(template: str) -> str | None:
    """Why a ``str.format`` template walks attributes or items of its arguments, or None."""
    try:
        for _, field_name, spec, _ in string.Formatter().parse(template):
            if field_name and ("." in field_name or "[" in field_name):
                shown = ascii(field_name)[1:-1][:60]  # module text: escaped, bounded
                return f"format field {{{shown}}} walks attributes; use an f-string"
            if spec and (why := _format_walk(spec)):
                return why
    except ValueError:
        return "the format string is malformed"
    return None
