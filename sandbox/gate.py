"""The static gate: the first rung of the ladder (DESIGN §4.3).

RestrictedPython's compiler with a project policy: ordinary Python passes (single-underscore
names and attributes, annotations, dataclasses, augmented assignment to attributes and
items, f-strings, defining ``__init__`` and calling ``super().__init__()``); any other
dunder, ``exec``/``eval``/``compile``/``open``/``__import__`` and friends, and any import
outside the allowlist are rejected. The allowlist is the standard-library modules below,
``sandbox.api``, and the top-level modules of the packages pinned in
``images/sandbox.lock`` — the exact set the sandbox image holds, so adding a package to the
lock (and rebuilding the image) extends it.

Every problem comes back as ``line N: `code` — rule; what to do``, written for an LLM
repairing its own module. The gate is a fast filter, **not** the security boundary: the
sandbox is.
"""

from __future__ import annotations

import ast
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from RestrictedPython import RestrictingNodeTransformer, compile_restricted_exec
from RestrictedPython.transformer import INSPECT_ATTRIBUTES

# DESIGN §4.3: the standard library a mechanism may use (pure computation, no I/O).
STDLIB_ALLOWED = (
    "math",
    "random",
    "statistics",
    "itertools",
    "collections",
    "dataclasses",
    "typing",
    "heapq",
    "bisect",
    "functools",
    "__future__",  # `from __future__ import annotations` is ordinary Python
)
API_MODULE = "sandbox.api"
LOCK_ENV = "BILEVEL_SANDBOX_LOCK"  # where the runner image keeps the lock, if not in a checkout
DEFAULT_LOCK = Path(__file__).resolve().parent.parent / "images" / "sandbox.lock"
# Distributions whose import name is not the normalised distribution name.
IMPORT_NAMES = {
    "scikit-learn": ("sklearn",),
    "pyyaml": ("yaml",),
    "pillow": ("PIL",),
    "beautifulsoup4": ("bs4",),
    "python-dateutil": ("dateutil",),
    "opencv-python": ("cv2",),
    "opencv-python-headless": ("cv2",),
}
# Builtins that execute, open or introspect their way around the rules above.
FORBIDDEN_CALLS = {
    "exec": "runs arbitrary code",
    "eval": "runs arbitrary code",
    "compile": "builds code objects",
    "open": "opens files; a mechanism gets everything it needs from ctx",
    "__import__": "imports around the allowlist",
    "globals": "exposes the module's internals",
    "locals": "exposes frame internals",
    "vars": "exposes object internals",
    "getattr": "reaches attributes by computed name; use plain attribute access",
    "setattr": "writes attributes by computed name; use plain assignment",
    "delattr": "deletes attributes by computed name",
    "breakpoint": "starts a debugger",
    "input": "reads stdin; a mechanism gets everything it needs from ctx",
    "exit": "stops the process; return a value instead",
    "quit": "stops the process; return a value instead",
    "help": "is interactive",
}
_LOCK_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==")


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


def lock_path() -> Path:
    return Path(os.environ.get(LOCK_ENV) or DEFAULT_LOCK)


def lock_packages(path: Path | None = None) -> list[str]:
    """Distribution names pinned in the sandbox lock."""
    path = path or lock_path()
    try:
        text = path.read_text()
    except OSError as exc:
        from sandbox.backends.base import SandboxUnavailable

        raise SandboxUnavailable(
            f"cannot read the sandbox lock {path} ({exc.strerror}); set {LOCK_ENV} to images/sandbox.lock"
        ) from None
    return [m.group(1) for line in text.splitlines() if (m := _LOCK_LINE.match(line))]


def allowed_modules(path: Path | None = None) -> list[str]:
    """Top-level modules a mechanism may import: the stdlib list plus the lock's packages."""
    third_party: list[str] = []
    for dist in lock_packages(path):
        key = dist.lower().replace("_", "-")
        third_party += IMPORT_NAMES.get(key, (key.replace("-", "_").replace(".", "_"),))
    return [*STDLIB_ALLOWED, *sorted(set(third_party))]


class _ProjectPolicy(RestrictingNodeTransformer):
    """RestrictedPython's checks, relaxed for ordinary Python and tightened for imports/calls.

    The transformed code is never executed (the sandbox runs the original module), so the
    overrides only decide what is an error; they need not produce runnable guards.
    """

    allowed: frozenset[str] = frozenset()

    def _fail(self, node: ast.AST, code: str, rule: str) -> None:
        line = getattr(node, "lineno", 0)
        self.errors.append(f"line {line}: `{code}` — {rule}")

    def check_name(
        self, node: ast.AST, name: str | None, allow_magic_methods: bool = False
    ) -> None:
        if name is None:
            return
        if name.startswith("__") and name.endswith("__"):
            if name == "__init__" and allow_magic_methods:
                return
            self._fail(
                node,
                name,
                "dunder names are not allowed in a mechanism (only defining __init__ and calling "
                "super().__init__() are); use an ordinary name",
            )
            return
        if name.startswith("__"):
            self._fail(node, name, "names starting with two underscores are not allowed; use one")
            return
        if name in ("print", "printed") and isinstance(node, ast.Name):
            return  # calling print is fine: it goes to the capped module output
        if name.startswith("_"):
            return  # single-underscore helpers are ordinary Python
        super().check_name(node, name, allow_magic_methods)

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if isinstance(node.ctx, ast.Load) and node.id in FORBIDDEN_CALLS:
            self._fail(
                node,
                node.id,
                f"`{node.id}` {FORBIDDEN_CALLS[node.id]}; it is not allowed in a mechanism",
            )
            return node
        return super().visit_Name(node)

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        attr = node.attr
        is_super_init = (
            attr == "__init__"
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name)
            and node.value.func.id == "super"
        )
        if attr.startswith("__") and not is_super_init:
            self._fail(
                node,
                f".{attr}",
                "dunder attributes are not allowed in a mechanism (only super().__init__()); "
                "use the API's public fields",
            )
        elif attr in INSPECT_ATTRIBUTES:
            self._fail(
                node, f".{attr}", "frame and traceback internals are not allowed in a mechanism"
            )
        return self.node_contents_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        # `self.n += 1` and `counts[k] += 1` are ordinary Python; only the target name is checked.
        return self.node_contents_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        # Annotated assignments (dataclass fields, `self.x: int = 0`) are ordinary Python.
        return self.node_contents_visit(node)

    def _check_module(self, node: ast.AST, module: str, shown: str) -> None:
        top = module.split(".")[0]
        if top == "sandbox":
            if module != API_MODULE:
                self._fail(
                    node, shown, f"only {API_MODULE} may be imported from the sandbox package"
                )
            return
        if top not in self.allowed:
            self._fail(
                node,
                shown,
                f"package not in the sandbox; allowed: {', '.join(sorted(self.allowed - {'__future__'}))}, {API_MODULE}",
            )

    def visit_Import(self, node: ast.Import) -> ast.AST:
        for alias in node.names:
            self._check_module(node, alias.name, f"import {alias.name}")
        return super().visit_Import(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST:
        names = ", ".join(a.name for a in node.names)
        shown = f"from {'.' * node.level}{node.module or ''} import {names}"
        if node.level:
            self._fail(
                node, shown, "relative imports are not allowed; a mechanism is a single module"
            )
        elif node.module == "sandbox":
            if any(a.name != "api" for a in node.names):
                self._fail(
                    node, shown, f"only {API_MODULE} may be imported from the sandbox package"
                )
        else:
            self._check_module(node, node.module or "", shown)
        return super().visit_ImportFrom(node)


def _rule_of(message: str) -> str:
    text = message.split("—", 1)[-1] if "—" in message else re.sub(r"^line \d+: ", "", message)
    return text.strip().split(";")[0][:80]


def check_source(
    source: str, filename: str = "mechanism.py", *, lock: Path | None = None
) -> GateResult:
    """Run the static gate on a module's source."""
    start = time.perf_counter()
    allowed = frozenset(allowed_modules(lock))
    policy = type("Policy", (_ProjectPolicy,), {"allowed": allowed})
    try:
        result = compile_restricted_exec(source, filename=filename, policy=policy)
        errors = list(result.errors)
    except SyntaxError as exc:
        errors = [f"line {exc.lineno or 0}: SyntaxError: {exc.msg}"]
    issues = []
    for err in dict.fromkeys(errors):
        if re.search(r"(Eval|Exec) calls are not allowed", err):
            continue  # the policy's own `eval`/`exec` message says more
        match = re.match(r"(?i)line (\d+)", err)
        line = int(match.group(1)) if match else 0
        message = err if err.startswith("line ") else re.sub(r"^Line (\d+): ", r"line \1: ", err)
        issues.append(GateIssue(line=line, rule=_rule_of(message), message=message))
    issues.sort(key=lambda i: i.line)
    return GateResult(ok=not issues, issues=issues, seconds=round(time.perf_counter() - start, 4))
