"""The one validator of what a mechanism's hook returned (DESIGN §4.2, §4.3).

A hook's output reaches the host as plain JSON and is hostile until checked. The contract
tests in the sandbox (:func:`sandbox.contexts.validate_output`) and the live host
(:mod:`orchestrator.level2.mechanisms.outputs`) both ask :func:`output_error`, so a module that
passed its contract tests is never rejected live by a different rule, and one that would be
rejected live cannot pass them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from contract import limits
from contract.space import Param


def changes_error(changes: dict[str, Any], space: Sequence[Param]) -> str | None:
    """Why a candidate's changes are invalid (none, an unknown or frozen name, a bad value)."""
    if not changes:
        return "a candidate must change at least one parameter"
    params = {p.name: p for p in space}
    for name, value in changes.items():
        param = params.get(name)
        if param is None:
            return f"unknown parameter {name!r}; known: {', '.join(params)}"
        if param.frozen:
            return f"{name} is frozen and must not be changed"
        if err := param.check(value):
            return err
    return None


def output_error(
    hook: str, value: Any, space: Sequence[Param], n_candidates: int = 0
) -> str | None:
    """Why ``value``, what ``hook`` returned as JSON, breaks the API, or None when it is valid.

    ``space`` is the context's parameters; ``n_candidates`` how many candidates ``screen``
    was given. Never raises: any error while looking at the value (a huge int, a strange
    type) is itself the reason.
    """
    try:
        return _error(hook, value, space, n_candidates)
    except Exception as exc:  # a value that breaks validation is invalid
        return f"{hook} returned a value that could not be checked ({type(exc).__name__})"


def _error(hook: str, value: Any, space: Sequence[Param], n_candidates: int) -> str | None:
    if hook == "guide":
        if value is None:
            return None
        if not isinstance(value, dict):
            return "guide must return Guidance or None"
        if err := limits.text_error("Guidance.hint", value.get("hint", ""), limits.MAX_HINT_CHARS):
            return err
        focus = value.get("focus", [])
        if not isinstance(focus, list):
            return "Guidance.focus must be a list of parameter names"
        if len(focus) > limits.MAX_FOCUS_NAMES:
            return f"Guidance.focus has {len(focus)} names; at most {limits.MAX_FOCUS_NAMES}"
        params = {p.name: p for p in space}
        for name in focus:
            if not isinstance(name, str) or name not in params:
                return (
                    f"Guidance.focus names unknown parameter {name!r}; known: {', '.join(params)}"
                )
            if params[name].frozen:
                return f"Guidance.focus names {name!r}, which is frozen in this context"
        return None
    if not isinstance(value, list):
        return f"{hook} must return a list"
    if hook == "propose":
        if len(value) > limits.MAX_CANDIDATES_PER_CALL:
            return (
                f"propose returned {len(value)} candidates; at most "
                f"{limits.MAX_CANDIDATES_PER_CALL}"
            )
        for i, cand in enumerate(value):
            if not isinstance(cand, dict) or not isinstance(cand.get("changes"), dict):
                return f"candidate {i}: changes must be a dict of parameter name to value"
            if err := changes_error(cand["changes"], space):
                return f"candidate {i}: {err}"
            rationale = cand.get("rationale", "")
            if err := limits.text_error(
                f"candidate {i} rationale", rationale, limits.MAX_RATIONALE_CHARS
            ):
                return err
            if err := limits.priority_error(f"candidate {i} priority", cand.get("priority", 0.0)):
                return err
        return None
    if hook == "screen":
        if len(value) != n_candidates:
            return f"screen returned {len(value)} verdicts for {n_candidates} candidates; return exactly one per candidate, in order"
        for i, verdict in enumerate(value):
            if not isinstance(verdict, dict) or not isinstance(verdict.get("accept"), bool):
                return f"verdict {i}: accept must be True or False"
            reason = verdict.get("reason", "")
            if err := limits.text_error(f"verdict {i} reason", reason, limits.MAX_REASON_CHARS):
                return err
        return None
    return f"unknown hook {hook!r}"
