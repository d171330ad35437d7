"""The slow-call breaker judges the mechanism, not the machine: a hook call is timed in CPU
seconds of its own process, against a budget that grows with what a trial costs, and a
mechanism whose trials hold the study's kept improvements is never reverted for slowness
alone. Calls run in the real process sandbox."""

from __future__ import annotations

from pathlib import Path

from orchestrator.config import StudyConfig
from orchestrator.level2.mechanisms import LiveMechanismHost, Promotion, store_mechanism
from orchestrator.level2.mechanisms.breaker import (
    BREAKER_SLOW_CALLS,
    SLOW_CALL_SECONDS,
    SLOW_CALLS_TO_REVERT,
    EffectTally,
    call_budget,
)
from orchestrator.state import rebuild_state
from tests.research.support import direct_client
from tests.security.test_host_breaker import SLOW, as_pair

# Waits without using the CPU: what a busy machine does to wall-clock time.
WAITS = """
import time

from sandbox.api import Guidance, Mechanism


class Waiter(Mechanism):
    name = "waiter"

    def guide(self, ctx):
        time.sleep(0.8)
        return Guidance(hint="patient", focus=[])
"""


def guided(tmp_path: Path, name: str, source: str, budget: float) -> LiveMechanismHost:
    """A host with one live guide mechanism, called SLOW_CALLS_TO_REVERT times."""
    state = rebuild_state(StudyConfig.from_dict({"name": name, "iterations": 3}), [])
    host = LiveMechanismHost(direct_client("process"), slow_call_seconds=budget)
    host.queue_promotion(
        Promotion(stored=store_mechanism(tmp_path, name, source), hooks=("guide",))
    )
    host.boundary(0, lambda event: None)
    for _ in range(SLOW_CALLS_TO_REVERT):
        out = host.guide(state.hook_context(0))
        assert out.fired == [name] and not out.errors
    return host


def test_waiting_is_not_slowness_but_burning_cpu_is(tmp_path: Path) -> None:
    waiter = guided(tmp_path / "w", "waiter", WAITS, budget=0.5)  # 0.8 s wall per call
    try:
        assert waiter.active() == ["waiter"]
        assert waiter.boundary(1, lambda event: None) == ([], [])
    finally:
        waiter.client.close()
    sloth = guided(tmp_path / "s", "sloth", SLOW, budget=0.05)  # real CPU work trips it
    try:
        assert sloth.active() == []
    finally:
        sloth.client.close()


def test_a_mechanism_that_holds_kept_improvements_is_not_reverted_for_slowness(
    tmp_path: Path,
) -> None:
    host = guided(tmp_path, "sloth", SLOW, budget=0.05)
    journaled: list[tuple[str, dict[str, object]]] = []
    kept = [{"index": 4, "source": "mechanism:sloth", "status": "ok", "kept": True}]
    try:
        assert host.active() == []  # tripped on slowness...
        assert host.boundary(5, lambda e: journaled.append(as_pair(e)), kept) == ([], [])
        assert host.active() == ["sloth"]  # ...but its trial is the incumbent: it stays
        assert not journaled
    finally:
        host.client.close()


def test_the_budget_follows_the_trial_cost() -> None:
    assert call_budget(None) == SLOW_CALL_SECONDS
    assert call_budget(0.001) == SLOW_CALL_SECONDS  # microsecond trials: the floor
    assert call_budget(300.0) == 75.0  # a 5-minute trial: a quarter of it
    tally = EffectTally()
    for _ in range(SLOW_CALLS_TO_REVERT):
        tally.note_call_seconds(10.0, call_budget(300.0))
    assert not tally.tripped
    for _ in range(SLOW_CALLS_TO_REVERT):
        tally.note_call_seconds(10.0, call_budget(1.0))
    assert tally.tripped == BREAKER_SLOW_CALLS and "CPU" in tally.reason
