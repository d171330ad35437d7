"""Host-side checks of what a mechanism's hook returned through the sandbox.

The sandbox hands back plain JSON; nothing a mechanism returns is trusted. Each checker
validates one hook's raw output with :func:`contract.hook_output.output_error` (the one
validator; the sandbox's contract tests apply it too) and turns it into the mechanism API's
own types (:class:`sandbox.api.Guidance`, :class:`~sandbox.api.Candidate`,
:class:`~sandbox.api.Verdict`: the contract's one definition of each, on both sides of the
sandbox) or raises :class:`InvalidOutput` with a reason that goes to the circuit breaker
and the journal.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypedDict, TypeVar, cast

from contract.hook_output import output_error
from contract.hooks import Candidate, Guidance, Verdict
from contract.space import SearchSpace

_T = TypeVar("_T")
_P = ParamSpec("_P")


class InvalidOutput(ValueError):
    """A hook returned something the contract does not allow."""


# The shapes :func:`output_error` lets through: a checker reads its raw output as one of
# these only after the validator passed it.
class _GuidanceJSON(TypedDict, total=False):
    hint: str
    focus: list[str]


class _CandidateJSON(TypedDict, total=False):
    changes: dict[str, object]
    rationale: str
    priority: float


class _VerdictJSON(TypedDict, total=False):
    accept: bool
    reason: str


def _never_raises(check: Callable[_P, _T]) -> Callable[_P, _T]:
    """Any error while looking at a mechanism's output is that mechanism's invalid output
    (an int too large for a float, a strange type), never an exception for the caller."""

    @functools.wraps(check)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return check(*args, **kwargs)
        except InvalidOutput:
            raise
        except Exception as exc:  # see the docstring
            raise InvalidOutput(
                f"{check.__name__}: output could not be checked ({type(exc).__name__})"
            ) from None

    return wrapper


def _raise_invalid(hook: str, raw: object, space: SearchSpace | None, n: int = 0) -> None:
    """The one validator of hook output, shared with the sandbox's contract tests."""
    if err := output_error(hook, raw, () if space is None else space.params, n):
        raise InvalidOutput(err)


@_never_raises
def check_guidance(raw: object, space: SearchSpace) -> Guidance:
    _raise_invalid("guide", raw, space)
    if raw is None:
        return Guidance()
    guidance = cast(_GuidanceJSON, raw)  # validated just above
    return Guidance(
        hint=guidance.get("hint", ""), focus=list(dict.fromkeys(guidance.get("focus", [])))
    )


@_never_raises
def check_candidates(raw: object, space: SearchSpace) -> list[Candidate]:
    _raise_invalid("propose", raw, space)
    return [
        Candidate(
            changes={k: space.param(k).coerce(v) for k, v in item["changes"].items()},
            rationale=item.get("rationale", ""),
            priority=float(item.get("priority", 0.0)),
        )
        for item in cast(list[_CandidateJSON], raw)  # validated just above
    ]


@_never_raises
def check_verdicts(raw: object, expected: int) -> list[Verdict]:
    _raise_invalid("screen", raw, None, expected)
    return [
        Verdict(accept=item["accept"], reason=item.get("reason", ""))
        for item in cast(list[_VerdictJSON], raw)  # validated just above
    ]
