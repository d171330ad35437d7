"""Contract tests a module cannot tell from live use.

Each payload in ``tests/security/evasion`` looks for one difference between the contract
tests and live use (its own proposals missing from its screen's candidates, its own name
missing from the sources, rounded values, candidates a copy of the generator rebuilds,
determinism checked in one fork, short histories, a worker flag in a reachable frame,
process ids and the time since load growing call by call, trials_left copied from the
newest live context) and
behaves only while it thinks it is tested; two more silence Level 1 or the sibling
mechanisms through their screen. Every one must be rejected at the contract stage, on
both backends, with a reason that names what it did.
"""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.ladder import sandbox_ladder
from tests.conftest import REPO
from tests.sandbox.helpers import FAST_DEADLINE_S, FAST_LIMITS

EVASION = REPO / "tests" / "security" / "evasion"
# The study length the cubic payload is tested at: a long study, where O(n^3) work per
# call is several seconds on any CPU (80 trials, the old contract length, take well under
# the call limit). At 300 the work was 1.3 s on an idle core, under the 1.5 s limit of
# FAST_LIMITS: the payload then passed or failed by the machine's speed, not the contract's.
LONG_STUDY_ITERATIONS = 600

# payload -> words the rejection reason must contain
EXPECTED = {
    "own_proposals": "my own proposal",
    "own_name": "my own trials",
    "rounded_values": "full-precision",
    "regenerated_candidates": "not the contract generator",
    "process_nondeterminism": "fresh process",
    "cubic_history": "timed out",
    "silence_level1": "level 1",
    "silence_siblings": "other mechanism",
    "worker_state": "no contract flag",
    "pid_growth": "fresh process",
    "load_elapsed": "fresh process",
    "trials_left": "trials left",
}


def _ladder(backend: Any, payload: str, **kw: Any) -> Any:
    source = kw.pop("source", None) or (EVASION / f"{payload}.py").read_text(encoding="utf-8")
    return sandbox_ladder(
        source,
        kw.pop("space"),
        backend=backend,
        limits=FAST_LIMITS,
        deadline_s=FAST_DEADLINE_S * 2,
        **kw,
    )


@pytest.mark.parametrize("payload", sorted(EXPECTED))
def test_a_module_that_behaves_only_under_test_is_rejected(
    backend: Any, space: list[dict[str, Any]], payload: str
) -> None:
    report = _ladder(backend, payload, space=space, iterations=LONG_STUDY_ITERATIONS)
    assert not report.accepted, f"{payload} passed the contract tests: {report.reason}"
    assert report.stage == "contract", report.reason
    assert EXPECTED[payload] in report.reason.lower(), report.reason


def test_the_payload_count_is_stated() -> None:
    """The README's attack-suite figure counts these payloads too."""
    assert len(list(EVASION.glob("*.py"))) == len(EXPECTED)


PID_PROBE = """
import os

from sandbox.api import Context, Guidance, Mechanism


class PidProbe(Mechanism):
    name = "pid_probe"

    def guide(self, ctx: Context) -> Guidance | None:
        print("PID", os.getpid(), os.getppid(), flush=True)
        return None
"""
# A call's process is forked just after the ids are used up: a few ids more may go to the
# sandbox's own processes (a worker started meanwhile) before it.
PID_SLACK = 16


def _pids(output: str) -> list[int]:
    return [int(line.split()[1]) for line in output.splitlines() if line.startswith("PID ")]


def test_live_and_contract_calls_draw_their_pids_from_one_range(
    backend: Any, space: list[dict[str, Any]]
) -> None:
    """Live, a call's pid used to be one small number; in a contract run it grew call by
    call. Now both are drawn from one range: a pid says nothing about which it is."""
    from sandbox.contexts import contract_contexts
    from sandbox.contract_stage import PID_FLOOR, PID_SPAN
    from sandbox.ladder import call_stage

    low, high = PID_FLOOR, PID_FLOOR + PID_SPAN + PID_SLACK
    report = _ladder(backend, "", space=space, source=PID_PROBE)
    assert report.accepted, report.reason
    contract = _pids(report.module_output)
    assert len(contract) >= 6 and all(low <= p < high for p in contract), contract
    ctx = contract_contexts(space, [], seed=1)[0][1]
    live = [
        _pids(
            call_stage("guide", [("pid_probe", "sha", PID_PROBE)], ctx, backend=backend)
            .outputs[0]
            .output
        )[0]
        for _ in range(3)
    ]
    assert all(low <= p < high for p in live), live
