"""One set of output limits: the contract checks (sandbox/contexts.py) and the live host's
checks (orchestrator/level2/mechanisms/outputs.py) accept and reject exactly the same outputs."""

from __future__ import annotations

from typing import Any

import pytest

import sandbox.api
from contract import limits
from contract.hooks import Context
from orchestrator.level2.mechanisms.host import space_of
from orchestrator.level2.mechanisms.outputs import (
    InvalidOutput,
    check_candidates,
    check_guidance,
    check_verdicts,
)
from sandbox.contexts import contract_contexts, validate_output


@pytest.fixture(scope="module")
def ctx(space: list[dict[str, Any]]) -> dict[str, Any]:
    return dict(contract_contexts(space, [], seed=1))["frozen-params"]


def _names(ctx: dict[str, Any], *, frozen: bool) -> list[str]:
    return [p["name"] for p in ctx["space"] if bool(p["frozen"]) == frozen]


def _candidate(ctx: dict[str, Any], **fields: Any) -> dict[str, Any]:
    param = next(p for p in ctx["space"] if p["kind"] == "float" and not p["frozen"])
    return {"changes": {param["name"]: param["low"]}, "rationale": "", "priority": 0.0, **fields}


def _host(hook: str, value: Any, ctx: dict[str, Any], n: int) -> bool:
    space = space_of(Context.from_dict(ctx))  # the host receives the typed Context
    try:
        if hook == "guide":
            check_guidance(value, space)
        elif hook == "propose":
            check_candidates(value, space)
        else:
            check_verdicts(value, n)
    except InvalidOutput:
        return False
    return True


def _cases(ctx: dict[str, Any]) -> list[tuple[str, Any, bool]]:
    tunable, frozen = _names(ctx, frozen=False), _names(ctx, frozen=True)
    many = tunable * (limits.MAX_FOCUS_NAMES // len(tunable) + 2)
    text = "x" * limits.MAX_RATIONALE_CHARS
    reason = "r" * limits.MAX_REASON_CHARS
    return [
        ("propose", [_candidate(ctx)] * limits.MAX_CANDIDATES_PER_CALL, True),
        ("propose", [_candidate(ctx)] * (limits.MAX_CANDIDATES_PER_CALL + 1), False),
        ("propose", [_candidate(ctx, priority=limits.PRIORITY_MAX)], True),
        ("propose", [_candidate(ctx, priority=limits.PRIORITY_MIN)], True),
        ("propose", [_candidate(ctx, priority=100.5)], False),
        ("propose", [_candidate(ctx, priority=2**1200)], False),
        ("propose", [_candidate(ctx, priority=float("nan"))], False),
        ("propose", [_candidate(ctx, priority=True)], False),
        ("propose", [_candidate(ctx, rationale=text)], True),
        ("propose", [_candidate(ctx, rationale=text + "x")], False),
        ("propose", [_candidate(ctx, rationale=None)], False),
        ("guide", {"hint": "h" * limits.MAX_HINT_CHARS, "focus": tunable[:1]}, True),
        ("guide", {"hint": "h" * (limits.MAX_HINT_CHARS + 1), "focus": []}, False),
        ("guide", {"hint": "", "focus": many[: limits.MAX_FOCUS_NAMES]}, True),
        ("guide", {"hint": "", "focus": many[: limits.MAX_FOCUS_NAMES + 1]}, False),
        ("guide", {"hint": "", "focus": frozen[:1]}, False),
        ("guide", {"hint": "", "focus": ["NOT_A_PARAM"]}, False),
        ("guide", {"hint": 3, "focus": []}, False),
        ("screen", [{"accept": True, "reason": reason}], True),
        ("screen", [{"accept": False, "reason": reason + "r"}], False),
        ("screen", [{"accept": 1, "reason": ""}], False),
    ]


def test_sandbox_and_host_agree_on_every_limit(ctx: dict[str, Any]) -> None:
    one = [_candidate(ctx)]
    for hook, value, valid in _cases(ctx):
        candidates = one if hook == "screen" else None
        in_sandbox = validate_output(hook, value, ctx, candidates) is None
        on_host = _host(hook, value, ctx, len(one))
        assert (in_sandbox, on_host) == (valid, valid), (hook, str(value)[:120])


def test_the_api_documents_the_limits() -> None:
    doc = sandbox.api.__doc__ or ""
    assert f"at most {limits.MAX_CANDIDATES_PER_CALL} candidates per" in doc
    assert f"within [{limits.PRIORITY_MIN:g}, {limits.PRIORITY_MAX:g}]" in doc
    assert f"at most {limits.MAX_RATIONALE_CHARS} characters" in doc
    assert f"``hint`` at most {limits.MAX_HINT_CHARS}" in doc
    assert f"at most {limits.MAX_FOCUS_NAMES} names" in doc


def test_mechanism_names() -> None:
    assert limits.name_error("trust_region") is None
    for bad in ("", "Trust", "a-b", "x" * (limits.MAX_NAME_CHARS + 1), None, "ü"):
        assert limits.name_error(bad)
