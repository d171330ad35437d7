"""Host-side checks of what a mechanism's hook returned through the sandbox.

The sandbox hands back plain JSON; nothing a mechanism returns is trusted. Each checker
turns one hook's raw output into the orchestrator's own values or raises
:class:`InvalidOutput` with a reason that goes to the circuit breaker and the journal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from trainer.spec import SearchSpace

# Longest guidance hint passed on to the Level-1 prompt: a hint, not a document.
MAX_HINT_CHARS = 600
# Most candidates one mechanism may add per iteration; more is a flood, not a proposal.
MAX_CANDIDATES_PER_CALL = 8
# Priorities outside this range would let one mechanism permanently shadow all others.
PRIORITY_RANGE = (-100.0, 100.0)
MAX_REASON_CHARS = 300


class InvalidOutput(ValueError):
    """A hook returned something the contract does not allow."""


@dataclass(frozen=True)
class GuidanceOut:
    hint: str = ""
    focus: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.hint and not self.focus


@dataclass(frozen=True)
class CandidateOut:
    changes: dict[str, Any]
    rationale: str = ""
    priority: float = 0.0
    source: str = ""  # "mechanism:<name>"


@dataclass(frozen=True)
class VerdictOut:
    accept: bool
    reason: str = ""


def check_guidance(raw: Any, space: SearchSpace) -> GuidanceOut:
    if raw is None:
        return GuidanceOut()
    if not isinstance(raw, dict):
        raise InvalidOutput(f"guide returned {type(raw).__name__}, expected Guidance or None")
    hint = raw.get("hint", "") or ""
    focus = raw.get("focus", []) or []
    if not isinstance(hint, str) or not isinstance(focus, list):
        raise InvalidOutput("guide: hint must be a string and focus a list of names")
    unknown = [f for f in focus if f not in space.names()]
    if unknown:
        raise InvalidOutput(f"guide: focus names unknown parameters {unknown}")
    return GuidanceOut(hint=hint[:MAX_HINT_CHARS], focus=tuple(dict.fromkeys(focus)))


def check_candidates(raw: Any, space: SearchSpace, name: str) -> list[CandidateOut]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidOutput(f"propose returned {type(raw).__name__}, expected a list")
    if len(raw) > MAX_CANDIDATES_PER_CALL:
        raise InvalidOutput(
            f"propose returned {len(raw)} candidates (max {MAX_CANDIDATES_PER_CALL})"
        )
    out: list[CandidateOut] = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("changes"), dict):
            raise InvalidOutput("propose: every candidate needs a changes dict")
        changes = item["changes"]
        if not changes:
            raise InvalidOutput("propose: a candidate with no changes")
        errors = space.check_changes(changes)
        if errors:
            raise InvalidOutput("propose: " + "; ".join(errors[:3]))
        priority = item.get("priority", 0.0)
        if (
            isinstance(priority, bool)
            or not isinstance(priority, int | float)
            or not math.isfinite(priority)
            or not PRIORITY_RANGE[0] <= priority <= PRIORITY_RANGE[1]
        ):
            raise InvalidOutput(f"propose: priority {priority!r} outside {PRIORITY_RANGE}")
        out.append(
            CandidateOut(
                changes={k: space.param(k).coerce(v) for k, v in changes.items()},
                rationale=str(item.get("rationale", ""))[:MAX_REASON_CHARS],
                priority=float(priority),
                source=f"mechanism:{name}",
            )
        )
    return out


def check_verdicts(raw: Any, expected: int) -> list[VerdictOut]:
    if not isinstance(raw, list) or len(raw) != expected:
        got = len(raw) if isinstance(raw, list) else type(raw).__name__
        raise InvalidOutput(f"screen returned {got} verdicts for {expected} candidates")
    verdicts = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("accept"), bool):
            raise InvalidOutput("screen: every verdict needs a boolean accept")
        verdicts.append(
            VerdictOut(accept=item["accept"], reason=str(item.get("reason", ""))[:MAX_REASON_CHARS])
        )
    return verdicts
