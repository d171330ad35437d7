"""Which package may import which: the picture of README's layout, checked from the source.

- ``contract/`` is the leaf: standard library only, nothing of the project. It ships in the
  sandbox image, where nothing else of the project exists.
- ``sandbox/`` and ``trainer/`` import the leaf and themselves, never ``orchestrator/`` and
  never each other: each is a service that runs without the others installed.
- ``orchestrator/`` is the client of both services (DESIGN §3): it imports their contracts
  and client surfaces (:data:`ORCHESTRATOR_USES`) anywhere, and their service entry points
  only where it starts or runs a service (:data:`ENTRY_POINTS`: the CLI commands and the
  inline executor). Anything else it needs of theirs belongs in the leaf.
- Inside ``orchestrator/``, the study loop (:data:`LOOP`) never imports the user-facing
  surfaces (:data:`SURFACES`: the dashboard, the CLI commands): they subscribe to the loop
  (``run_study(observer=...)``), so the loop runs the same with or without them.

Imports are read with ``ast`` (nothing is imported), including imports inside functions and
under ``if TYPE_CHECKING:``: a type-only import still ties a module to what it names.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LEAF = "contract"
PACKAGES = (LEAF, "orchestrator", "sandbox", "trainer")
# The project packages each package may import besides itself.
MAY_IMPORT = {
    LEAF: frozenset(),
    "sandbox": frozenset({LEAF}),
    "trainer": frozenset({LEAF}),
    "orchestrator": frozenset({LEAF, "sandbox", "trainer"}),
}
# What any orchestrator module may use of the services: their contracts (sandbox.api,
# trainer.spec), the torch-free descriptions of what a trainer can run (presets, objective
# checks, benchmark functions, the loss-curve helpers), the sandbox's host-side client (the
# orchestrator never runs generated code itself: it asks a client for the sandbox's
# answers), the static gate (it reads text, never runs it) and the cleaning of hostile
# text.
ORCHESTRATOR_USES = frozenset(
    {
        "sandbox",
        "sandbox.api",
        "sandbox.backends",
        "sandbox.backends.base",
        "sandbox.client",
        # The one builder of a hook's context, live and contract alike: the host builds live
        # contexts with the function the contract tests use, so a module cannot tell them apart.
        "sandbox.contexts",
        "sandbox.gate",
        "sandbox.answers",
        "sandbox.text",
        "trainer",
        "trainer.benchmarks",
        "trainer.objective",
        # The code-trial proposal check (stdlib only): a bad diff is refused before a job.
        "trainer.patch",
        "trainer.presets",
        "trainer.progress",
        "trainer.spec",
    }
)
# Service entry points, and the orchestrator modules that start or run those services: the
# CLI is the front door of every service (`bilevel worker`, `bilevel sandbox-runner`,
# `bilevel trial`, `bilevel data`), and the inline executor runs trials in a local child
# process on machines without Redis. Prefixes ending in "." cover a whole package.
ENTRY_POINTS = {
    "orchestrator.commands.": frozenset(
        {
            "sandbox.backends.docker",  # `mechanism image`: which sandbox image a check uses
            "sandbox.runner",
            "trainer.data",
            "trainer.datasets",
            "trainer.jobs",
            "trainer.supervise",
        }
    ),
    "orchestrator.executor": frozenset({"trainer.jobs", "trainer.supervise"}),
}
# The study loop: the modules that plan, run and record trials. Prefixes as above.
LOOP = (
    "orchestrator.study",
    "orchestrator.state",
    "orchestrator.executor",
    "orchestrator.journal",
    "orchestrator.events",
    "orchestrator.pruning",
    "orchestrator.agent.",
    "orchestrator.levels.",
    "orchestrator.level2.mechanisms.",
    "orchestrator.level2.research.",
)
SURFACES = ("orchestrator.dashboard", "orchestrator.commands", "orchestrator.cli")


def _covers(prefix: str, name: str) -> bool:
    return name.startswith(prefix) if prefix.endswith(".") else name == prefix


def modules(root: Path = ROOT) -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules an import statement of ``name`` names: ``from a import b`` is ``a.b``
    when that is a module, else ``a``; relative imports are resolved against the package."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                found.add(sub if sub in known else module)
    return found


def _entry_point_allowed(importer: str, target: str) -> bool:
    return any(_covers(p, importer) and target in ts for p, ts in ENTRY_POINTS.items())


def violations(root: Path = ROOT) -> list[str]:
    """Every import against the picture, as ``importer -> imported: why``."""
    known = modules(root)
    found = []
    for name, path in known.items():
        own = name.split(".")[0]
        for target in sorted(imported_modules(name, path, set(known))):
            top = target.split(".")[0]
            if any(_covers(p, name) for p in LOOP) and any(
                target == s or target.startswith(s + ".") for s in SURFACES
            ):
                found.append(f"{name} -> {target}: the study loop never imports a user surface")
            if top not in PACKAGES or top == own:
                continue
            if top not in MAY_IMPORT[own]:
                found.append(f"{name} -> {target}: {own}/ never imports {top}/")
            elif (
                own == "orchestrator"
                and top != LEAF
                and target not in ORCHESTRATOR_USES
                and not _entry_point_allowed(name, target)
            ):
                found.append(
                    f"{name} -> {target}: not a contract or client surface of {top}/ "
                    "(move the shared word to contract/, or list it in ORCHESTRATOR_USES)"
                )
    return found


def non_stdlib_imports(root: Path = ROOT) -> list[str]:
    """Imports of the leaf package that are neither the standard library nor the leaf."""
    known = modules(root)
    allowed = set(sys.stdlib_module_names) | {LEAF, "__future__"}
    return [
        f"{name} -> {target}"
        for name, path in known.items()
        if name.split(".")[0] == LEAF
        for target in sorted(imported_modules(name, path, set(known)))
        if target.split(".")[0] not in allowed
    ]


def test_every_package_imports_only_what_the_layering_allows() -> None:
    assert len(modules()) > 100  # the walk found the packages
    assert violations() == []


def test_the_leaf_imports_only_the_standard_library() -> None:
    assert any(name.startswith(f"{LEAF}.") for name in modules())
    assert non_stdlib_imports() == []


def test_the_layering_check_catches_upward_and_sideways_imports(tmp_path: Path) -> None:
    """The imports this project once had, in a throwaway tree: each is reported."""
    leaks = {
        "sandbox/runner.py": "def serve():\n    from orchestrator.rq_guard import guarded_worker\n",
        "trainer/spec.py": "from sandbox.api import TrialStatus\n",
        "orchestrator/study.py": (
            "from sandbox.harness import run_contract\n"
            "from orchestrator.dashboard.progress import ProgressFile\n"
        ),
        "contract/space.py": "import pydantic\nfrom trainer import spec\n",
    }
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "orchestrator" / "rq_guard.py").write_text("")
    (tmp_path / "sandbox" / "api.py").write_text("")
    (tmp_path / "sandbox" / "harness.py").write_text("")
    (tmp_path / "orchestrator" / "dashboard").mkdir()
    (tmp_path / "orchestrator" / "dashboard" / "progress.py").write_text("")
    for relative, source in leaks.items():
        (tmp_path / relative).write_text(source)
    found = violations(tmp_path)
    assert any(v.startswith("sandbox.runner -> orchestrator.rq_guard") for v in found)
    assert any(v.startswith("trainer.spec -> sandbox.api") for v in found)
    assert any(v.startswith("orchestrator.study -> sandbox.harness") for v in found)
    assert any(v.startswith("orchestrator.study -> orchestrator.dashboard.progress") for v in found)
    assert any(v.startswith("contract.space -> trainer.spec") for v in found)
    assert non_stdlib_imports(tmp_path) == [
        "contract.space -> pydantic",
        "contract.space -> trainer.spec",
    ]


# ---------------------------------------------------------------------------------------
# One home per shared word
# ---------------------------------------------------------------------------------------
# Code written against the mechanism API (the built-in library) imports it from
# ``sandbox.api``, as generated mechanisms must: the gate allows that module, not the leaf.
MECHANISM_CODE = ("orchestrator.level2.research.library.",)
# The one module that re-exports the leaf's words on purpose: the mechanism API.
API_MODULE = "sandbox.api"


def _top_level_names(tree: ast.Module) -> list[tuple[str, int]]:
    names = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef):
            names.append((node.name, node.lineno))
        elif isinstance(node, ast.Assign):
            names += [(t.id, node.lineno) for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append((node.target.id, node.lineno))
    return names


def _is_word(name: str) -> bool:
    """A shared word: a constant (``NAME_PATTERN``) or a type (``Param``); helper functions
    and loggers with a common name (``log``, ``evaluate``) are not words of the contract."""
    return name[:1].isupper() and not name.startswith("_")


def shared_words(root: Path = ROOT) -> dict[str, str]:
    """Every public constant and type the leaf defines, and the leaf module defining it."""
    words: dict[str, str] = {}
    for name, path in modules(root).items():
        if name.split(".")[0] == LEAF:
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for word, _ in _top_level_names(tree):
                if _is_word(word):
                    words.setdefault(word, name)
    return words


def second_homes(root: Path = ROOT) -> list[str]:
    """Where a shared word is defined again, or imported through a module that re-exports
    it instead of from its home in the leaf."""
    words = shared_words(root)
    known = modules(root)
    reexports: dict[str, set[str]] = {}  # module -> the leaf's words it imports
    trees = {name: ast.parse(path.read_text(encoding="utf-8")) for name, path in known.items()}
    for name, tree in trees.items():
        reexports[name] = {
            alias.asname or alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == LEAF
            for alias in node.names
        }
    found = []
    for name, tree in trees.items():
        if name.split(".")[0] == LEAF or any(_covers(p, name) for p in MECHANISM_CODE):
            continue
        for word, line in _top_level_names(tree):
            if word in words:
                found.append(f"{name}:{line} defines {word} again (home: {words[word]})")
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
                continue
            if node.module.split(".")[0] == LEAF or node.module not in reexports:
                continue
            for alias in node.names:
                if alias.name in words and alias.name in reexports[node.module]:
                    if node.module == API_MODULE and name == "sandbox":
                        continue  # the package's own surface repeats the API's
                    found.append(
                        f"{name}:{node.lineno} imports {alias.name} from {node.module} "
                        f"(import it from {words[alias.name]})"
                    )
    return found


def test_every_shared_word_has_one_home() -> None:
    words = shared_words()
    assert {"Param", "SearchSpace", "Direction", "TrialStatus", "Context"} <= set(words)
    assert second_homes() == []


def test_the_one_home_check_catches_copies_and_detours(tmp_path: Path) -> None:
    """A second definition and an import through a re-export, in a throwaway tree."""
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "contract" / "trials.py").write_text('Direction = "minimize"\n')
    (tmp_path / "trainer" / "spec.py").write_text("from contract.trials import Direction\n")
    (tmp_path / "sandbox" / "ladder.py").write_text('Direction = "maximize"\n')
    (tmp_path / "orchestrator" / "metric.py").write_text("from trainer.spec import Direction\n")
    assert second_homes(tmp_path) == [
        "orchestrator.metric:1 imports Direction from trainer.spec (import it from contract.trials)",
        "sandbox.ladder:1 defines Direction again (home: contract.trials)",
    ]
