"""The static gate's third pass: what a module does with *values*, whatever their type.

:mod:`sandbox.gate_reach` follows names bound to modules; a value reached any other way (an
exception's ``.obj``, a wrapper a library filled in, a match pattern) has no name the gate can
follow. So the rules here hold for every object, by construction:

- No private (``_x``) attribute on any object, except the module's own state on ``self``
  (or ``cls``) inside one of its methods, for a name the module itself defines. Reaching a
  foreign object's ``_os``, ``_inst`` or ``_lib`` through a value is how a module gets
  around every other rule.
- No method taken from a class instead of an instance (``M.read(random)`` would run a
  method's ``self._x`` on a foreign object), and nothing looked up on ``type(x)``.
- No string that becomes code or an attribute name: quoted annotations (registration by
  annotation and ``get_type_hints`` evaluate them), keyword arguments that turn strings into
  code or attribute walks (``eval_str=``, ``globalns=``, ``assigned=``/``updated=`` naming
  dunders), string constants that name private or dunder attributes, ``type()`` with three
  arguments and ``metaclass=`` (both build classes from a dictionary of names).
- No clock: the strings ``"now"`` and ``"today"`` (numpy parses either into the current
  time) and numpy's datetime dtype codes, so a module behaves the same later in a study.
"""

from __future__ import annotations

import ast
import re

from sandbox.gate_names import API_MODULE
from sandbox.gate_owners import (
    OWNER_NAMES,
    allowed_class_uses,
    bound_in_body,
    decorator_names,
    first_param,
    instance_methods,
    is_private,
    own_private,
    params,
    private_readers,
)
from sandbox.gate_reach import fail

# Keyword arguments that turn a string into code or into an attribute name.
DENIED_KEYWORDS = {
    "eval_str": "evaluates annotation strings as code",
    "globalns": "evaluates strings as code in a namespace",
    "localns": "evaluates strings as code in a namespace",
    "metaclass": "builds classes through a custom metaclass",
}
# A string constant that names a private or dunder attribute: a route to one by name.
PRIVATE_STRING = re.compile(r"_+[A-Za-z0-9]\w*\Z")
# Strings that are ordinary Python although they look private.
ALLOWED_STRINGS = frozenset({"__main__"})
# numpy turns these strings into the current date and time (np.datetime64("now")).
CLOCK_STRINGS = frozenset({"now", "today"})
# numpy's datetime dtype codes ("M8[s]", "datetime64[ns]"): a way to reach a clock by string.
DATETIME_DTYPE = re.compile(r"[<>=|]?(M8|M\Z|datetime64)")
PRIVATE_RULE = (
    "private attributes may only be used on `self` (or `cls`) in a method, for names this "
    "module defines; give data other objects read a public name"
)


# What a quoted annotation may contain: names of types, subscripts, unions, None.
_TYPE_NODES: tuple[type[ast.AST], ...] = (ast.Expression, ast.Name, ast.Attribute, ast.Subscript)
_TYPE_NODES += (ast.Tuple, ast.List, ast.BinOp, ast.BitOr, ast.Load, ast.Constant)


def _plain_type_text(text: str) -> bool:
    """Whether a quoted annotation only names types (``"Score"``, ``"list[Trial] | None"``):
    evaluating it looks names up and nothing else."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    for node in ast.walk(tree):
        if not isinstance(node, _TYPE_NODES):
            return False
        if isinstance(node, ast.BinOp) and not isinstance(node.op, ast.BitOr):
            return False
        name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")
        if name.startswith("_"):
            return False
        if isinstance(node, ast.Constant) and not (
            node.value is None or (isinstance(node.value, str) and _plain_type_text(node.value))
        ):
            return False
    return True


Scope = ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda


class Values(ast.NodeVisitor):
    """Private attributes on any object, methods taken from classes, strings that become
    code or attribute names, clocks. Runs on the untransformed tree."""

    def __init__(self, tree: ast.Module) -> None:
        self.errors: list[str] = []
        nodes = list(ast.walk(tree))  # one walk, shared by every question below
        self.own_private = own_private(nodes)
        self.classes = {n.name for n in nodes if isinstance(n, ast.ClassDef)}
        self.methods = instance_methods(nodes)
        # Classes whose methods read private attributes: their name may only be called,
        # subclassed or tested against, never handed around (an alias would let
        # `alias.method(foreign)` run `self._x` on a foreign object).
        self.guarded = private_readers(nodes)
        self.api_names = {
            alias.asname or alias.name
            for node in nodes
            if isinstance(node, ast.ImportFrom) and node.module == API_MODULE and not node.level
            for alias in node.names
        }
        self.class_uses = allowed_class_uses(nodes)
        self._scopes: list[tuple[Scope, bool]] = []  # (function, is it a method)
        self._in_class_body = False
        self._annotation_depth = 0
        self._bound_cache: dict[int, list[str]] = {}  # function id -> names its body binds

    # ------------------------------------------------------------------ scopes
    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for keyword in node.keywords:
            if keyword.arg in DENIED_KEYWORDS:
                why = DENIED_KEYWORDS[keyword.arg]
                fail(self.errors, node, f"{keyword.arg}=", f"{why}; not allowed in a mechanism")
        for child in [*node.bases, *node.keywords, *node.decorator_list]:
            self.visit(child)
        # Methods of a class with a foreign base (a library class) may not read private
        # attributes even on self: one the module never assigned would be the library's.
        outer, self._in_class_body = self._in_class_body, self._bases_owned(node)
        saved, self._scopes = self._scopes, [*self._scopes]
        for stmt in node.body:
            self.visit(stmt)
        self._scopes, self._in_class_body = saved, outer

    def _bases_owned(self, node: ast.ClassDef) -> bool:
        """Whether every base of the class is the module's own class, the API's, or object."""
        return all(
            isinstance(base, ast.Name) and base.id in self.classes | self.api_names | {"object"}
            for base in node.bases
        )

    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for dec in node.decorator_list:
            self.visit(dec)
        self._visit_arguments(node.args)
        if node.returns is not None:
            self._annotation(node.returns)
        is_method = self._in_class_body and "staticmethod" not in decorator_names(node)
        outer, self._in_class_body = self._in_class_body, False
        self._scopes.append((node, is_method))
        for stmt in node.body:
            self.visit(stmt)
        self._scopes.pop()
        self._in_class_body = outer

    visit_FunctionDef = visit_AsyncFunctionDef = _visit_function

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._visit_arguments(node.args)
        self._scopes.append((node, False))
        self.visit(node.body)
        self._scopes.pop()

    def _visit_arguments(self, args: ast.arguments) -> None:
        for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
            if arg is not None and arg.annotation is not None:
                self._annotation(arg.annotation)
        for default in [*args.defaults, *args.kw_defaults]:
            if default is not None:
                self.visit(default)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._annotation(node.annotation)
        self.visit(node.target)
        if node.value is not None:
            self.visit(node.value)

    def _annotation(self, node: ast.expr) -> None:
        self._annotation_depth += 1
        self.visit(node)
        self._annotation_depth -= 1

    def _bound(self, scope: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
        if id(scope) not in self._bound_cache:
            self._bound_cache[id(scope)] = bound_in_body(scope)
        return self._bound_cache[id(scope)]

    def _owner_ok(self, name: str) -> bool:
        """Whether ``name`` here is the first parameter of an enclosing method, bound
        nowhere else in that method."""
        for scope, is_method in reversed(self._scopes):
            bound = [] if isinstance(scope, ast.Lambda) else self._bound(scope)
            if name in params(scope) or name in bound:
                return (
                    is_method
                    and not isinstance(scope, ast.Lambda)
                    and first_param(scope) == name
                    and name not in bound
                )
        return False

    # ------------------------------------------------------------ attributes
    def visit_Attribute(self, node: ast.Attribute) -> None:
        attr, value = node.attr, node.value
        if is_private(attr):
            on_owner = isinstance(value, ast.Name) and value.id in OWNER_NAMES
            on_super = (
                isinstance(value, ast.Call)
                and isinstance(value.func, ast.Name)
                and value.func.id == "super"
                and not value.args
            )
            owner_ok = on_owner and self._owner_ok(value.id)  # type: ignore[attr-defined]
            defined = attr in self.own_private or isinstance(node.ctx, ast.Store)
            if not ((owner_ok or (on_super and self._scopes)) and defined):
                fail(self.errors, node, f".{attr}", PRIVATE_RULE)
        elif (
            isinstance(value, ast.Name)
            and value.id in self.classes
            and attr in self.methods
            and isinstance(node.ctx, ast.Load)
        ):
            fail(
                self.errors,
                node,
                f"{value.id}.{attr}",
                "a method may only be called on an instance (`self.method(...)`), not taken "
                "from its class",
            )
        elif attr == "obj" and not (isinstance(value, ast.Name) and value.id in OWNER_NAMES):
            fail(
                self.errors,
                node,
                ".obj",
                "`.obj` hands out the object an error was raised on; name your own "
                "attribute differently",
            )
        if (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Name)
            and value.func.id == "type"
        ):
            fail(
                self.errors,
                node,
                f"type(...).{attr}",
                "attributes of type(x) are not allowed; use isinstance or the object itself",
            )
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if (
            isinstance(node.ctx, ast.Load)
            and node.id in self.guarded
            and id(node) not in self.class_uses
            and not self._annotation_depth
        ):
            fail(
                self.errors,
                node,
                node.id,
                "a class whose methods read private attributes may only be called, "
                "subclassed or used in isinstance(); do not hand it around",
            )

    def visit_MatchClass(self, node: ast.MatchClass) -> None:
        # `case C(x=v)` reads attribute x of the subject: the same rules as `subject.x`.
        for attr in node.kwd_attrs:
            if is_private(attr) or attr in ("obj", "format", "format_map"):
                fail(
                    self.errors,
                    node,
                    f"{attr}=",
                    "this attribute may not be matched; use the API's public fields",
                )
        self.generic_visit(node)

    # --------------------------------------------------------------- calls
    def visit_Call(self, node: ast.Call) -> None:
        for keyword in node.keywords:
            if keyword.arg in DENIED_KEYWORDS:
                why = DENIED_KEYWORDS[keyword.arg]
                fail(self.errors, node, f"{keyword.arg}=", f"{why}; not allowed in a mechanism")
        func = node.func
        called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        if called == "wraps" and (len(node.args) > 1 or node.keywords):
            fail(
                self.errors,
                node,
                "wraps(...)",
                "functools.wraps may only name the wrapped function; its other arguments "
                "copy attributes named by strings",
            )
        if isinstance(func, ast.Name) and func.id == "type" and len(node.args) != 1:
            fail(
                self.errors,
                node,
                "type(...)",
                "type() with three arguments builds a class from a dictionary of names; "
                "write a class statement",
            )
        self.generic_visit(node)

    # ------------------------------------------------------------- strings
    def visit_Constant(self, node: ast.Constant) -> None:
        value = node.value
        if not isinstance(value, str):
            return
        if self._annotation_depth and not _plain_type_text(value):
            fail(
                self.errors,
                node,
                ascii(value)[:40],
                "quoted annotations are evaluated as code at run time; write the type "
                "itself (add `from __future__ import annotations` for forward references)",
            )
        elif PRIVATE_STRING.match(value) and value not in ALLOWED_STRINGS:
            fail(
                self.errors,
                node,
                ascii(value)[:40],
                "a string naming a private or dunder attribute reaches it by name; use "
                "public attributes directly",
            )
        elif value.strip().lower() in CLOCK_STRINGS or DATETIME_DTYPE.match(value.strip()):
            fail(
                self.errors,
                node,
                ascii(value)[:40],
                "dates and clocks make a hook behave differently later in a study; derive "
                "everything from ctx",
            )
