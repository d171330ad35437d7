"""The static gate against routes that run code it never saw, and Python it must not refuse.

Each file in ``payloads/gate`` reaches code, raw memory, a module by name or a clock by a
route a gate built from a list of known walks let through; each must be rejected statically,
with the reason its ``# expect:`` line names. Each file in ``payloads/legit`` is ordinary
Python a mechanism may use (its own future flags, Unicode identifiers, ``__slots__``, the
``__main__`` guard, private state on ``self``); each must pass the whole ladder on both
backends. A decorator that swaps the mechanism class passes the gate (it is ordinary code)
and must be stopped at the smoke test, before any contract test runs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from sandbox.gate import check_source
from sandbox.ladder import run_ladder
from tests.sandbox.helpers import FAST_DEADLINE_S, FAST_LIMITS
from tests.security.attack import ATTACK_LIMITS, SLACK_S, run_attack

PAYLOADS = Path(__file__).parent / "payloads"
HOSTILE = sorted((PAYLOADS / "gate").glob("*.py"))
LEGIT = sorted((PAYLOADS / "legit").glob("*.py"))
# Loading scikit-learn or numpy in a fresh worker on a busy machine: the ladder's own limit.
LADDER_LIMITS = {**FAST_LIMITS, "call_seconds": 3.0}

SWAPPED_CLASS = """
from sandbox.api import Candidate, Mechanism


def swap(cls):
    class Impostor(cls):
        def propose(self, ctx):
            return [Candidate(changes={"NOT_A_PARAM": 1})]

    return Impostor


@swap
class Honest(Mechanism):
    name = "honest"

    def propose(self, ctx):
        return []
"""
SWAPPED_HOOK = """
from sandbox.api import Candidate, Mechanism


def other(self, ctx):
    return [Candidate(changes={"NOT_A_PARAM": 1})]


def swap(cls):
    cls.propose = other
    return cls


@swap
class Honest(Mechanism):
    name = "honest"

    def propose(self, ctx):
        return []
"""


def _expect(path: Path) -> str:
    match = re.search(r"^# expect: (.+)$", path.read_text(), re.M)
    assert match, f"{path.name} lacks '# expect:'"
    return match.group(1).strip()


def test_the_suite_covers_every_route() -> None:
    assert len(HOSTILE) >= 42 and len(LEGIT) >= 6


@pytest.mark.parametrize("path", HOSTILE, ids=lambda p: p.stem)
def test_route_is_rejected_statically(path: Path) -> None:
    result = check_source(path.read_text(), path.name)
    assert not result.ok, f"{path.name} passed the static gate"
    assert _expect(path) in " ".join(i.message for i in result.issues), result.reason


@pytest.mark.parametrize("path", LEGIT, ids=lambda p: p.stem)
def test_legitimate_python_passes_the_gate(path: Path) -> None:
    result = check_source(path.read_text(), path.name)
    assert result.ok, result.reason


@pytest.mark.parametrize("path", LEGIT, ids=lambda p: p.stem)
def test_legitimate_python_passes_the_ladder(
    path: Path, backend: Any, space: list[dict[str, Any]]
) -> None:
    report = run_ladder(
        path.read_text(),
        space,
        backend=backend,
        filename=path.name,
        limits=LADDER_LIMITS,
        deadline_s=FAST_DEADLINE_S,
    )
    assert report.accepted, f"{report.stage}: {report.reason}"


@pytest.mark.parametrize("source", [SWAPPED_CLASS, SWAPPED_HOOK], ids=["class", "hook"])
def test_a_decorator_that_swaps_the_class_is_caught_at_smoke(
    source: str, backend: Any, space: list[dict[str, Any]]
) -> None:
    assert check_source(source).ok  # ordinary code: the gate cannot tell
    report = run_ladder(
        source, space, backend=backend, limits=LADDER_LIMITS, deadline_s=FAST_DEADLINE_S
    )
    assert (report.accepted, report.stage) == (False, "smoke"), report.reason
    assert "class statement" in report.reason or "written in the class body" in report.reason


def test_the_sandbox_contains_a_route_the_gate_stops(backend: Any) -> None:
    """Straight through the backend, as if the gate had missed it: the fork bomb reached
    through an AttributeError's .obj fails (the process limit, the call's time, or its forks
    writing on the worker channel), within its limits, and the harness still reports."""
    attack = run_attack(backend, "gate/attribute_error_obj_bomb")
    assert attack.run.status == "ok", attack.run.error
    assert attack.output is not None and attack.output["ok"] is False
    stopped_by = ("timed out", "resource temporarily unavailable", "extra bytes")
    assert any(why in attack.error.lower() for why in stopped_by), attack.error
    assert attack.elapsed < ATTACK_LIMITS["call_seconds"] + SLACK_S


def test_result_objects_answer_no_array_protocol_from_their_keys(backend: Any) -> None:
    """The gate cannot see a computed key: a solver's OptimizeResult, scipy.odr's Data and a
    Bunch filled under "__array_interface__" are plain objects to numpy inside the sandbox
    (every class of numpy, scipy and scikit-learn whose __getattr__ is Python code answers
    no dunder there), so no array over another address is built and nothing is read."""
    attack = run_attack(backend, "keyed_result_memory")
    found = attack.findings
    for route in ("optimize_result", "odr_data", "bunch"):
        assert found[route] == {"dtype": "object", "read": ""}, found
    assert f"secret-{attack.marker}" not in attack.everything_returned


def test_the_sandbox_reports_after_a_string_evaluated_as_code(backend: Any) -> None:
    """Registration by annotation runs a shell command at import inside the sandbox: the
    supervisor still answers for the module, host-side."""
    attack = run_attack(backend, "gate/singledispatch_annotation")
    assert attack.run.status == "ok", attack.run.error
    assert attack.output is not None and attack.output["name"] == "probe"
