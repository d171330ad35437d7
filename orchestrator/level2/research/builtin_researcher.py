"""The built-in agent's Level 2: diagnose the trace, pick a mechanism, write its source.

The sources live in ``orchestrator/level2/research/library/*.py``. They are **read as text**
(their metadata comes from the syntax tree, never from importing them) and go through the
same rounds and the same gate ladder as an LLM's module; the orchestrator never imports
them. The diagnosis scores each library mechanism against what the trace shows:

- few distinct points, or tunable params never varied  -> Latin-hypercube exploration
- configurations tried more than once                  -> tabu screening
- changes piled onto a few params                      -> an upper-confidence bandit
- enough finished points and no recent improvement     -> Gaussian-process EI
"""

from __future__ import annotations

import ast
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from contract.hooks import HOOKS, Hook
from orchestrator.level2.research.imports import imported_packages
from orchestrator.level2.research.rounds import (
    CritiqueReply,
    ExploreReply,
    GenerateReply,
    Hypothesis,
    Score,
    SpecifyReply,
)

LIBRARY_DIR = Path(__file__).resolve().parent / "library"
# Finished ok trials a surrogate model needs before its predictions beat a guess (the GP
# module itself abstains below 4; 6 leaves it a little data to learn the noise).
GP_MIN_POINTS = 6
# Trials without a new best that count as stagnation for the diagnosis.
STAGNATION_TRIALS = 4
# A search is "narrow" when its two most-changed params take this share of all changes.
NARROW_SHARE = 0.6
# Below this score a mechanism is not worth a sandbox slot; the session is discarded.
MIN_SCORE = 1.0


@dataclass(frozen=True)
class LibraryEntry:
    name: str
    class_name: str
    hooks: tuple[Hook, ...]
    packages: tuple[str, ...]
    summary: str  # first line of the module docstring
    rationale: str  # the rest of its first paragraph
    source: str


def _entry(path: Path) -> LibraryEntry:
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)  # parsing only: nothing in the library is executed here
    doc = ast.get_docstring(tree) or path.stem
    first, _, rest = doc.partition("\n")
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            name = next(
                (
                    stmt.value.value
                    for stmt in node.body
                    if isinstance(stmt, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == "name" for t in stmt.targets)
                    and isinstance(stmt.value, ast.Constant)
                    and isinstance(stmt.value.value, str)
                ),
                path.stem,
            )
            hooks = tuple(
                f.name for f in node.body if isinstance(f, ast.FunctionDef) and f.name in HOOKS
            )
            return LibraryEntry(
                name=name,
                class_name=node.name,
                hooks=hooks,
                packages=tuple(p for p in imported_packages(source) if p != "sandbox"),
                summary=first.strip().rstrip("."),
                rationale=" ".join(rest.strip().split("\n\n")[0].split()),
                source=source,
            )
    raise ValueError(f"{path}: no Mechanism subclass")


@cache
def library() -> dict[str, LibraryEntry]:
    """The built-in mechanisms by name, read from their source files."""
    entries = (_entry(p) for p in sorted(LIBRARY_DIR.glob("*.py")))
    return {e.name: e for e in entries}


FIELDS = {
    "latin_hypercube": "design of experiments",
    "tabu_screen": "tabu search (combinatorial optimisation)",
    "ucb_bandit": "multi-armed bandits",
    "gp_expected_improvement": "Bayesian optimisation",
}


def _config_key(config: dict[str, Any]) -> str:
    rounded = {k: round(v, 4) if isinstance(v, float) else v for k, v in config.items()}
    return json.dumps(rounded, sort_keys=True, default=str)


def diagnose(payload: dict[str, Any]) -> tuple[str, dict[str, float]]:
    """What the trace shows, in words, and a score per library mechanism (higher = needed)."""
    history = payload.get("history", [])
    tunable = [p["name"] for p in payload.get("space", []) if not p.get("frozen")]
    ok = [t for t in history if t.get("val_bpb") is not None]
    keys = Counter(_config_key(t["config"]) for t in history if t.get("status") != "invalid")
    repeats = sum(n - 1 for n in keys.values() if n > 1)
    changed = Counter(name for t in history for name in (t.get("changes") or {}))
    never = [n for n in tunable if n not in changed]
    top_two = sum(n for _, n in changed.most_common(2))
    narrow = top_two / max(sum(changed.values()), 1)
    kept_at = [t["index"] for t in history if t.get("kept")]
    since = sum(1 for t in history if t["index"] > max(kept_at, default=-1))

    scores = {
        # Space-filling pays early; once a surrogate has data, exploitation takes over.
        "latin_hypercube": (3.0 * len(never) / max(len(tunable), 1) + 2.0)
        * max(0.0, 1.0 - len(ok) / (2 * GP_MIN_POINTS)),
        "tabu_screen": 2.0 * repeats + (1.0 if since >= STAGNATION_TRIALS else 0.0),
        "ucb_bandit": 4.0 * max(0.0, narrow - NARROW_SHARE) / (1 - NARROW_SHARE)
        + (1.0 if len(changed) >= 2 else 0.0),
        "gp_expected_improvement": (3.0 if len(ok) >= GP_MIN_POINTS else 0.0)
        + (2.0 if since >= STAGNATION_TRIALS and len(ok) >= GP_MIN_POINTS else 0.0),
    }
    facts = [
        f"{len(history)} finished trials, {len(ok)} ok",
        f"{repeats} repeated configurations",
        f"{len(never)} of {len(tunable)} tunable params never varied"
        + (f" ({', '.join(never[:4])}{'...' if len(never) > 4 else ''})" if never else ""),
        f"the two most-changed params take {narrow:.0%} of all changes",
        f"{since} trials since the last new best",
    ]
    return "; ".join(facts), scores


def _available(payload: dict[str, Any]) -> list[LibraryEntry]:
    """Library mechanisms not active, not promoted before and not rejected this study."""
    taken = {a["name"] for a in payload.get("active", [])}
    taken |= set(payload.get("promoted", [])) | set(payload.get("rejected", []))
    return [e for name, e in library().items() if name not in taken]


def explore(payload: dict[str, Any]) -> ExploreReply:
    diagnosis, _ = diagnose(payload)
    entries = _available(payload) or list(library().values())
    return ExploreReply(
        diagnosis=diagnosis,
        hypotheses=[
            Hypothesis(
                title=e.name,
                field=FIELDS.get(e.name, "optimisation"),
                idea=f"{e.summary}. {e.rationale}",
                expected_effect=e.summary,
            )
            for e in entries
        ],
    )


def critique(payload: dict[str, Any]) -> CritiqueReply:
    diagnosis, scores = diagnose(payload)
    titles = [h["title"] for h in payload["explore"]["hypotheses"]]
    ranked = sorted(titles, key=lambda t: (-scores.get(t, 0.0), t))
    best = ranked[0]
    reason = f"highest need given: {diagnosis}"
    if scores.get(best, 0.0) < MIN_SCORE:
        reason = f"nothing scores above {MIN_SCORE}; building the least redundant option"
    return CritiqueReply(
        scores=[
            # Library modules are written for the gate (feasible) and only mechanisms not
            # live are offered (novel): the need score alone separates them.
            Score(
                title=t,
                gain=min(10.0, round(scores.get(t, 0.0), 2)),
                feasibility=10.0,
                novelty=10.0,
                reason=diagnosis,
            )
            for t in ranked
        ],
        selected=best,
        reason=reason,
    )


def specify(payload: dict[str, Any]) -> SpecifyReply:
    entry = library()[payload["critique"]["selected"]]
    return SpecifyReply(
        name=entry.name,
        class_name=entry.class_name,
        hooks=list(entry.hooks),
        reads=["history", "space", "base", "seed", "best"],
        packages=list(entry.packages),
        supersedes=[],
        description=entry.summary,
    )


def generate(payload: dict[str, Any]) -> GenerateReply:
    entry = library()[payload["spec"]["name"]]
    return GenerateReply(source=entry.source, notes=f"library module {entry.name}")


def repair(payload: dict[str, Any]) -> GenerateReply:
    """The builtin has no better version of its own code: it resubmits, and the bounded
    repair loop ends the session with the ladder's reason journaled."""
    return GenerateReply(source=payload["failed"]["source"], notes="no repair available")


ROLE_HANDLERS = {
    "explore": explore,
    "critique": critique,
    "specify": specify,
    "generate": generate,
    "repair": repair,
}


def level2_roles() -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
    """The research roles for the built-in agent: ``BuiltinAgent(level2_roles())``."""
    return {role: _replying_json(handler) for role, handler in ROLE_HANDLERS.items()}


def _replying_json(
    handler: Callable[[dict[str, Any]], BaseModel],
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda payload: handler(payload).model_dump(mode="json")
