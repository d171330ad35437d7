"""Host-side checks of what a mechanism's hook returned through the sandbox.

The sandbox hands back plain JSON; nothing a mechanism returns is trusted. Each checker
turns one hook's raw output into the mechanism API's own types (:class:`sandbox.api.Guidance`,
:class:`~sandbox.api.Candidate`, :class:`~sandbox.api.Verdict`: the contract's one definition
of each, on both sides of the sandbox) or raises :class:`InvalidOutput` with a reason that
goes to the circuit breaker and the journal.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from sandbox import limits
from sandbox.api import Candidate, Guidance, Verdict
from trainer.spec import SearchSpace

# The limits are the sandbox's own (sandbox/limits.py): the contract tests apply exactly
# these, so a module that passed them is never rejected live for a limit it was not tested on.
MAX_HINT_CHARS = limits.MAX_HINT_CHARS
MAX_CANDIDATES_PER_CALL = limits.MAX_CANDIDATES_PER_CALL
PRIORITY_RANGE = (limits.PRIORITY_MIN, limits.PRIORITY_MAX)
MAX_RATIONALE_CHARS = limits.MAX_RATIONALE_CHARS
MAX_REASON_CHARS = limits.MAX_REASON_CHARS
_T = TypeVar("_T")


class InvalidOutput(ValueError):
    """A hook returned something the contract does not allow."""


def _never_raises(check: Callable[..., _T]) -> Callable[..., _T]:
    """Any error while looking at a mechanism's output is that mechanism's invalid output
    (an int too large for a float, a strange type), never an exception for the caller."""

    @functools.wraps(check)
    def wrapper(*args: Any, **kwargs: Any) -> _T:
        try:
            return check(*args, **kwargs)
        except InvalidOutput:
            raise
        except Exception as exc:  # see the docstring
            raise InvalidOutput(
                f"{check.__name__}: output could not be checked ({type(exc).__name__})"
            ) from None

    return wrapper


@_never_raises
def check_guidance(raw: Any, space: SearchSpace) -> Guidance:
    if raw is None:
        return Guidance()
    if not isinstance(raw, dict):
        raise InvalidOutput(f"guide returned {type(raw).__name__}, expected Guidance or None")
    hint = raw.get("hint", "")
    focus = raw.get("focus", [])
    if err := limits.text_error("guide: hint", hint, MAX_HINT_CHARS):
        raise InvalidOutput(err)
    if not isinstance(focus, list) or len(focus) > limits.MAX_FOCUS_NAMES:
        raise InvalidOutput(
            f"guide: focus must be a list of at most {limits.MAX_FOCUS_NAMES} parameter names"
        )
    unknown = [f for f in focus if not isinstance(f, str) or f not in space.names()]
    if unknown:
        raise InvalidOutput(f"guide: focus names unknown parameters {unknown[:3]}")
    frozen = [f for f in focus if space.param(f).frozen]
    if frozen:
        raise InvalidOutput(f"guide: focus names frozen parameters {frozen[:3]}")
    return Guidance(hint=hint, focus=list(dict.fromkeys(focus)))


@_never_raises
def check_candidates(raw: Any, space: SearchSpace) -> list[Candidate]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidOutput(f"propose returned {type(raw).__name__}, expected a list")
    if len(raw) > MAX_CANDIDATES_PER_CALL:
        raise InvalidOutput(
            f"propose returned {len(raw)} candidates (max {MAX_CANDIDATES_PER_CALL})"
        )
    out: list[Candidate] = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("changes"), dict):
            raise InvalidOutput("propose: every candidate needs a changes dict")
        changes = item["changes"]
        if not changes:
            raise InvalidOutput("propose: a candidate with no changes")
        errors = space.check_changes(changes)
        if errors:
            raise InvalidOutput("propose: " + "; ".join(errors[:3]))
        rationale = item.get("rationale", "")
        if err := limits.text_error("propose: rationale", rationale, MAX_RATIONALE_CHARS):
            raise InvalidOutput(err)
        priority = item.get("priority", 0.0)
        if err := limits.priority_error("propose: priority", priority):
            raise InvalidOutput(err)
        out.append(
            Candidate(
                changes={k: space.param(k).coerce(v) for k, v in changes.items()},
                rationale=rationale,
                priority=float(priority),
            )
        )
    return out


@_never_raises
def check_verdicts(raw: Any, expected: int) -> list[Verdict]:
    if not isinstance(raw, list) or len(raw) != expected:
        got = len(raw) if isinstance(raw, list) else type(raw).__name__
        raise InvalidOutput(f"screen returned {got} verdicts for {expected} candidates")
    verdicts = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("accept"), bool):
            raise InvalidOutput("screen: every verdict needs a boolean accept")
        reason = item.get("reason", "")
        if err := limits.text_error("screen: reason", reason, MAX_REASON_CHARS):
            raise InvalidOutput(err)
        verdicts.append(Verdict(accept=item["accept"], reason=reason))
    return verdicts
