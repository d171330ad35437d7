"""The static gate: the first rung of the ladder (DESIGN §4.3).

RestrictedPython's compiler with a project policy, plus a second pass over the syntax tree
for what RestrictedPython does not know about (imports and what they reach):

- Ordinary Python passes: single-underscore names and attributes of the module's own
  objects, annotations and dataclasses, ``match``, ``nonlocal``, augmented assignment,
  f-strings, *defining* protocol methods (``__init__``, ``__post_init__``, ``__eq__``,
  ``__lt__``, ``__repr__``, ``__hash__`` ...) and calling them on ``super()``.
- Rejected: any other dunder access; ``exec``/``eval``/``compile``/``open``/``__import__`` and
  friends; imports outside the explicit allowlist (:mod:`sandbox.gate_names`); private
  attributes of imported modules (``random._os``); attribute walks that reach a module
  outside the allowlist (``typing.sys``, ``dataclasses.inspect``) or one that does I/O
  (``np.lib.npyio``); a module used as a value (``m = np``: the walk would escape the check);
  the I/O entry points of the allowed packages (``np.load``, ``x.tofile``); format-string
  attribute walks (``"{0.x}".format(...)``, ``format_map``).

Every problem comes back as ``line N: `code` — rule; what to do``, written for an LLM
repairing its own module. The gate never raises: an internal error (a deep expression's
RecursionError, anything) is a rejection with a one-line reason. It is a fast filter, **not**
the security boundary: the sandbox is.
"""

from __future__ import annotations

import ast
import re
import string
import time
from dataclasses import dataclass, field
from pathlib import Path

from RestrictedPython import RestrictingNodeTransformer, compile_restricted_exec
from RestrictedPython.transformer import INSPECT_ATTRIBUTES

from sandbox.gate_names import (  # noqa: F401 - lock helpers re-exported for callers
    API_MODULE,
    DEFINABLE_DUNDERS,
    DENIED_MODULE_ATTRS,
    DENIED_NAMES,
    FORBIDDEN_CALLS,
    LOCK_ENV,
    STDLIB_ALLOWED,
    THIRD_PARTY_ALLOWED,
    allowed_modules,
    denied_module,
    lock_packages,
    lock_path,
    module_attributes,
    top_allowed,
)

# A mechanism is a few hundred lines; a bigger source is not one, and bounds the gate's time.
MAX_SOURCE_CHARS = 200_000
_DUNDER_RULE = (
    "dunder access is not allowed in a mechanism (defining methods such as __init__ or __eq__ "
    "and calling super().__init__() are); use the API's public fields"
)


@dataclass
class GateIssue:
    """One rejected construct: where, which rule, and the actionable message."""

    line: int
    rule: str
    message: str


@dataclass
class GateResult:
    """The gate's verdict on one module."""

    ok: bool
    issues: list[GateIssue] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def reason(self) -> str:
        """The first problem, plus how many more there are: one line for a person or an LLM."""
        if self.ok:
            return "passed the static gate"
        extra = len(self.issues) - 1
        more = f" (and {extra} more problem{'s' if extra > 1 else ''})" if extra else ""
        return self.issues[0].message + more


def _fail(errors: list[str], node: ast.AST, code: str, rule: str) -> None:
    errors.append(f"line {getattr(node, 'lineno', 0)}: `{code}` — {rule}")


class _ProjectPolicy(RestrictingNodeTransformer):
    """RestrictedPython's checks, relaxed for ordinary Python. Attribute, import and format
    rules live in :class:`_Reach`. The transformed code is never executed (the sandbox runs
    the original module), so the overrides only decide what is an error."""

    def check_name(
        self, node: ast.AST, name: str | None, allow_magic_methods: bool = False
    ) -> None:
        if name is None:
            return
        if name.startswith("__") and name.endswith("__"):
            if allow_magic_methods and name in DEFINABLE_DUNDERS:
                return
            why = (
                f"{name} cannot be defined in a mechanism (it intercepts attribute access, "
                "pickling or class creation)"
                if allow_magic_methods
                else _DUNDER_RULE
            )
            _fail(self.errors, node, name, why)
            return
        if name.startswith("__"):
            _fail(
                self.errors,
                node,
                name,
                "names starting with two underscores are not allowed; use one",
            )
            return
        if name in ("print", "printed") and isinstance(node, ast.Name):
            return  # calling print is fine: it goes to the capped module output
        if name.startswith("_"):
            return  # single-underscore helpers are ordinary Python
        super().check_name(node, name, allow_magic_methods)

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if isinstance(node.ctx, ast.Load) and node.id in FORBIDDEN_CALLS:
            why = FORBIDDEN_CALLS[node.id]
            _fail(
                self.errors, node, node.id, f"`{node.id}` {why}; it is not allowed in a mechanism"
            )
            return node
        return super().visit_Name(node)

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        return self.node_contents_visit(node)  # checked by _Reach, on the untransformed tree

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        # `self.n += 1` and `counts[k] += 1` are ordinary Python; only the target name is checked.
        return self.node_contents_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        # Annotated assignments (dataclass fields, `self.x: int = 0`) are ordinary Python.
        return self.node_contents_visit(node)

    def visit_Nonlocal(self, node: ast.Nonlocal) -> ast.AST:
        return self.node_contents_visit(node)  # ordinary closures

    def visit_TryStar(self, node: ast.AST) -> ast.AST:
        return self.node_contents_visit(node)  # `except*` is ordinary Python 3.11

    def _visit_pattern(self, node: ast.AST) -> ast.AST:
        for name in (getattr(node, "name", None), getattr(node, "rest", None)):
            self.check_name(node, name)
        return self.node_contents_visit(node)

    visit_Match = visit_match_case = RestrictingNodeTransformer.node_contents_visit
    visit_MatchValue = visit_MatchSingleton = visit_MatchSequence = _visit_pattern
    visit_MatchMapping = visit_MatchClass = visit_MatchStar = _visit_pattern
    visit_MatchAs = visit_MatchOr = _visit_pattern


class _Reach(ast.NodeVisitor):
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
            _fail(
                self.errors,
                node,
                shown,
                f"only {API_MODULE} may be imported from the sandbox package",
            )
            return None
        if not top_allowed(top, self.third_party):
            allowed = sorted({*STDLIB_ALLOWED, *self.third_party} - {"__future__"})
            _fail(
                self.errors,
                node,
                shown,
                f"package not in the sandbox; allowed: {', '.join(allowed)}, {API_MODULE}",
            )
            return None
        current = top
        for part in parts[1:]:
            current = self._step(node, current, part, shown, importing=True)
            if current is None:
                return None
        return current

    def _step(
        self, node: ast.AST, module: str, attr: str, shown: str, *, importing: bool = False
    ) -> str | None:
        """``module.attr`` when it is an allowed module; None when it is not a module (the
        walk ends there) or after recording why it may not be reached."""
        if attr.startswith("_"):
            _fail(
                self.errors,
                node,
                shown,
                f"private attribute `{attr}` of module {module} is not allowed; use its public API",
            )
            return None
        if attr in DENIED_NAMES or attr in DENIED_MODULE_ATTRS:
            why = DENIED_NAMES.get(attr) or DENIED_MODULE_ATTRS[attr]
            _fail(self.errors, node, shown, f"`{attr}` {why}; it is not allowed in a mechanism")
            return None
        attrs = module_attributes(module)
        target = None if attrs is None else attrs.get(attr)
        if target is None:
            if importing:
                _fail(self.errors, node, shown, f"{module}.{attr} is not a module of the sandbox")
            return None
        why = denied_module(target)
        if why is None and any(p.startswith("_") for p in target.split(".")):
            why = "is a private module"
        if why is None and not top_allowed(target, self.third_party):
            why = "is a module outside the import allowlist"
        if why is None and module_attributes(target) is None:
            why = "is a module the gate does not know"
        if why:
            _fail(self.errors, node, shown, f"{target} {why}; a mechanism may not reach it")
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
            _fail(
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
                _fail(self.errors, node, f".{attr}", _DUNDER_RULE)
        elif attr.startswith("__"):
            _fail(
                self.errors,
                node,
                f".{attr}",
                "attributes starting with two underscores are not allowed; use one",
            )
        elif attr in INSPECT_ATTRIBUTES:
            _fail(
                self.errors,
                node,
                f".{attr}",
                "frame and traceback internals are not allowed in a mechanism",
            )
        elif attr in DENIED_NAMES:
            _fail(
                self.errors,
                node,
                f".{attr}",
                f"`{attr}` {DENIED_NAMES[attr]}; it is not allowed in a mechanism",
            )
        elif attr == "format" and id(node) not in self._literal_formats:
            _fail(
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
                _fail(
                    self.errors,
                    link,
                    shown,
                    "private attributes of an imported module's objects are not allowed; use the public API",
                )
                self._checked.add(id(link))
        if current:  # the chain ends on a module: it is being used as a value
            self._module_as_value(node, shown)
        if isinstance(node.ctx, ast.Store | ast.Del):
            _fail(
                self.errors,
                node,
                shown,
                "assigning to or deleting attributes of a module is not allowed",
            )

    def _module_as_value(self, node: ast.AST, shown: str) -> None:
        _fail(
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
        literal = isinstance(func, ast.Attribute) and isinstance(func.value, ast.Constant)
        if literal and func.attr == "format" and isinstance(func.value.value, str):
            self._literal_formats.add(id(func))
            if why := _format_walk(func.value.value):
                _fail(self.errors, node, ".format", why)
        self.generic_visit(node)

    def visit_MatchClass(self, node: ast.MatchClass) -> None:
        for attr in node.kwd_attrs:  # `case C(x=...)` reads attribute x of the subject
            if attr.startswith("__") or attr in DENIED_NAMES or attr in INSPECT_ATTRIBUTES:
                _fail(
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
                return f"format field {{{field_name}}} walks attributes; use an f-string"
            if spec and (why := _format_walk(spec)):
                return why
    except ValueError:
        return "the format string is malformed"
    return None


def _rule_of(message: str) -> str:
    text = message.split("—", 1)[-1] if "—" in message else re.sub(r"^line \d+: ", "", message)
    return text.strip().split(";")[0][:80]


def _issues(source: str, filename: str, third_party: frozenset[str]) -> list[GateIssue]:
    if not isinstance(source, str):
        return [GateIssue(0, "not text", "line 0: the module is not text")]
    if len(source) > MAX_SOURCE_CHARS:
        why = f"line 0: the module is {len(source)} characters; a mechanism fits in {MAX_SOURCE_CHARS}"
        return [GateIssue(0, "too large", why)]
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        why = f"line {exc.lineno or 0}: SyntaxError: {exc.msg}"
        return [GateIssue(exc.lineno or 0, "SyntaxError", why)]
    reach = _Reach(third_party)
    reach.visit(tree)
    result = compile_restricted_exec(source, filename=filename, policy=_ProjectPolicy)
    issues = []
    for err in dict.fromkeys([*reach.errors, *result.errors]):
        if re.search(r"(Eval|Exec) calls are not allowed", err):
            continue  # the policy's own `eval`/`exec` message says more
        match = re.match(r"(?i)line (\d+)", err)
        line = int(match.group(1)) if match else 0
        message = err if err.startswith("line ") else re.sub(r"^Line (\d+): ", r"line \1: ", err)
        issues.append(GateIssue(line=line, rule=_rule_of(message), message=message))
    issues.sort(key=lambda i: i.line)
    return issues


def check_source(
    source: str, filename: str = "mechanism.py", *, lock: Path | None = None
) -> GateResult:
    """Run the static gate on a module's source. Never raises: an internal error (a
    RecursionError on a deeply nested expression, anything) is a rejection with a reason."""
    start = time.perf_counter()
    allowed = frozenset(allowed_modules(lock))  # an unreadable lock is infrastructure, raised
    try:
        issues = _issues(source, filename, allowed & frozenset(THIRD_PARTY_ALLOWED))
    except RecursionError:
        issues = [
            GateIssue(
                0,
                "too deep",
                "line 0: the module nests too deeply to check; split deep expressions into steps",
            )
        ]
    except (Exception, MemoryError) as exc:
        why = f"line 0: the gate could not check the module ({type(exc).__name__}); simplify it"
        issues = [GateIssue(0, "gate error", why)]
    seconds = round(time.perf_counter() - start, 4)
    return GateResult(ok=not issues, issues=issues, seconds=seconds)
