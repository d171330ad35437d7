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
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from RestrictedPython import RestrictingNodeTransformer, compile_restricted_exec

from sandbox.gate_names import (  # noqa: F401 - the lock helpers are part of this API
    DEFINABLE_DUNDERS,
    FORBIDDEN_CALLS,
    LOCK_ENV,
    THIRD_PARTY_ALLOWED,
    allowed_modules,
    lock_packages,
    lock_path,
)
from sandbox.gate_reach import DUNDER_RULE, Reach, fail
from sandbox.gate_values import Values

if TYPE_CHECKING:
    # The nodes RestrictedPython names (those with a position), as its check_name types them.
    from RestrictedPython._types import T_pos_ast

# What a RestrictingNodeTransformer visit_* method returns (its own annotation).
VisitResult: TypeAlias = ast.AST | Iterable[ast.AST] | None

# Dunder names that are ordinary Python, with how they may be used: reading the module's name
# (the `if __name__ == "__main__":` guard; it is "mechanism" in the sandbox) and declaring
# `__slots__` (storage layout, no behaviour).
ORDINARY_DUNDER_NAMES = frozenset({("__name__", ast.Load), ("__slots__", ast.Store)})
# A mechanism is a few hundred lines; a bigger source is not one, and bounds the gate's time.
MAX_SOURCE_CHARS = 200_000


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


class _ProjectPolicy(RestrictingNodeTransformer):
    """RestrictedPython's checks, relaxed for ordinary Python. Attribute, import and format
    rules live in :class:`sandbox.gate_reach.Reach`. The transformed code is never executed (the sandbox runs
    the original module), so the overrides only decide what is an error."""

    def check_name(
        self, node: T_pos_ast, name: str | None, allow_magic_methods: bool = False
    ) -> None:
        if name is None:
            return
        if name.startswith("__") and name.endswith("__"):
            if allow_magic_methods and name in DEFINABLE_DUNDERS:
                return
            if isinstance(node, ast.Name) and (node.id, type(node.ctx)) in ORDINARY_DUNDER_NAMES:
                return
            why = (
                f"{name} cannot be defined in a mechanism (it intercepts attribute access, "
                "pickling or class creation)"
                if allow_magic_methods
                else DUNDER_RULE
            )
            fail(self.errors, node, name, why)
            return
        if name.startswith("__"):
            fail(
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

    def visit_Name(self, node: ast.Name) -> VisitResult:
        if isinstance(node.ctx, ast.Load) and node.id in FORBIDDEN_CALLS:
            why = FORBIDDEN_CALLS[node.id]
            fail(self.errors, node, node.id, f"`{node.id}` {why}; it is not allowed in a mechanism")
            return node
        return super().visit_Name(node)

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        return self.node_contents_visit(
            node
        )  # checked by gate_reach.Reach, on the untransformed tree

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

    def _visit_pattern(self, node: ast.pattern) -> ast.AST:
        for name in (getattr(node, "name", None), getattr(node, "rest", None)):
            self.check_name(node, name)
        return self.node_contents_visit(node)

    visit_Match = visit_match_case = RestrictingNodeTransformer.node_contents_visit
    visit_MatchValue = visit_MatchSingleton = visit_MatchSequence = _visit_pattern
    visit_MatchMapping = visit_MatchClass = visit_MatchStar = _visit_pattern
    visit_MatchAs = visit_MatchOr = _visit_pattern


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
    reach = Reach(third_party)
    reach.visit(tree)
    values = Values(tree)
    values.visit(tree)
    result = compile_restricted_exec(source, filename=filename, policy=_ProjectPolicy)
    issues = []
    for err in dict.fromkeys([*reach.errors, *values.errors, *result.errors]):
        if re.search(r"(Eval|Exec) calls are not allowed", err):
            continue  # the policy's own `eval`/`exec` message says more
        match = re.match(r"(?i)line (\d+)", err)
        line = int(match.group(1)) if match else 0
        message = err if err.startswith("line ") else re.sub(r"^Line (\d+): ", r"line \1: ", err)
        message = " ".join(message.split())  # one line, whatever the source contained
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
