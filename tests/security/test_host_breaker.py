"""The effect-based circuit breaker, through the real study loop (issue 10 item 8).

Each study here runs its trials for real (a `function` objective, tests/security/
breaker_objective.py: a child process per trial, a NaN is a `diverged` trial) and calls its
mechanism in the real process sandbox. The mechanism is handed to the live host as a
promotion, the way a research session does after the ladder; a small research driver
applies the host's boundary and starts no sessions. A mechanism whose output is valid but
harmful is reverted, journaled with the reason, and the study goes on without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.config import StudyConfig
from orchestrator.events import Event
from orchestrator.journal import Journal, read_events
from orchestrator.level2.mechanisms import LiveMechanismHost, Promotion, store_mechanism
from orchestrator.level2.mechanisms.breaker import (
    BREAKER_CHOSEN_HARMFUL,
    BREAKER_SLOW_CALLS,
    BREAKER_VETOES_ALL,
    CHOSEN_HARMFUL_TO_REVERT,
    VETO_ALL_TRIALS_TO_REVERT,
)
from orchestrator.levels.arbiter import Choice
from orchestrator.levels.hooks import BoundaryUpdate
from orchestrator.state import StudyState
from orchestrator.study import run_study
from tests.research.support import direct_client

# The objective: two parameters in [0, 1]; x above 0.9 diverges.
OBJECTIVE = {
    "kind": "function",
    "target": "tests.security.breaker_objective:evaluate",
    "metric": "loss",
    "direction": "minimize",
}
SPACE = {
    "x": {"kind": "float", "low": 0.0, "high": 1.0, "default": 0.5},
    "y": {"kind": "float", "low": 0.0, "high": 1.0, "default": 0.5},
}

VETO_ALL = """
from sandbox.api import Mechanism, Verdict


class Naysayer(Mechanism):
    name = "naysayer"

    def screen(self, ctx, candidates):
        return [Verdict(accept=False, reason="not this one") for _ in candidates]
"""

# Always into the diverging region, a new y each time so the candidate is never a config
# that already ran.
DIVERGE = """
from sandbox.api import Candidate, Mechanism


class Blowup(Mechanism):
    name = "blowup"

    def propose(self, ctx):
        changes = {"x": 0.95, "y": round(0.05 * (len(ctx.history) + 1), 4)}
        return [Candidate(changes=changes, rationale="bigger steps", priority=1.0)]
"""

# Module body work that runs on every call (the module is loaded fresh each time).
SLOW = """
from sandbox.api import Guidance, Mechanism

TABLE = sorted((i * 7919) % 1000003 for i in range(600000))


class Sloth(Mechanism):
    name = "sloth"

    def guide(self, ctx):
        return Guidance(hint="take your time " + str(TABLE[1]), focus=[])
"""


class MechanismFirst:
    """An arbiter plug-in (levels.arbiter) that always runs a mechanism's candidate when
    one survived: the harmful mechanism's candidates run every trial they are offered."""

    def choose(self, offered: list[str], data: Any) -> Choice:
        mechanisms = [s for s in offered if s != "level1"]
        return Choice((mechanisms or offered)[0], "test-mechanism-first", {})


class BoundaryOnly:
    """A research driver that starts no sessions: it only applies the host's boundary."""

    def __init__(self, host: LiveMechanismHost) -> None:
        self.host = host

    def at_boundary(self, state: StudyState, journal: Journal) -> BoundaryUpdate:
        finished = [t.as_trial() for t in state.ordered() if t.finished]
        promoted, reverted = self.host.boundary(state.next_index(), journal.append, finished)
        return BoundaryUpdate(promoted=promoted, reverted=reverted)

    def close(self) -> None:
        self.host.client.close()


def study(
    tmp_path: Path,
    name: str,
    source: str,
    hooks: tuple[str, ...],
    iterations: int,
    *,
    arbiter: str | None = None,
) -> list[dict[str, Any]]:
    levels: dict[str, Any] = {"policy": False, "research": True, "research_every": 1000}
    if arbiter:
        levels["arbiter"] = arbiter
    config = StudyConfig.from_dict(
        {
            "name": name,
            "iterations": iterations,
            "objective": OBJECTIVE,
            "space": SPACE,
            "levels": levels,
            "acceptance": {"rule": "strict"},  # every trial a search trial: counts stay exact
        }
    )
    host = LiveMechanismHost(direct_client("process"))
    stored = store_mechanism(tmp_path / "run", name, source)
    host.queue_promotion(Promotion(stored=stored, hooks=hooks))
    run_study(config, tmp_path / "run", mechanism_host=host, research=BoundaryOnly(host))
    return read_events(tmp_path / "run")


def only(events: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (event,) = [e for e in events if e["type"] == kind]
    return event


def trials(events: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {e["index"]: e for e in events if e["type"] == "trial_finished"}


def test_a_screen_that_vetoes_everything_is_reverted(tmp_path: Path) -> None:
    events = study(tmp_path, "naysayer", VETO_ALL, ("screen",), VETO_ALL_TRIALS_TO_REVERT + 2)
    reverted = only(events, "mechanism_reverted")
    assert reverted["name"] == "naysayer" and reverted["breaker"] == BREAKER_VETOES_ALL
    assert "vetoed every fresh candidate" in reverted["reason"]
    assert reverted["failures"] == 0  # no hook ever failed: it was its effect
    # Reverted at the boundary after the vetoed trials; the study finished every trial.
    assert reverted["iteration"] == VETO_ALL_TRIALS_TO_REVERT + 1
    done = trials(events)
    assert max(done) >= reverted["iteration"] and only(events, "study_finished")
    proposed = {e["index"]: e for e in events if e["type"] == "trial_proposed"}
    for index in range(1, VETO_ALL_TRIALS_TO_REVERT + 1):  # vetoed: the unscreened fallback
        assert "no candidate survived" in proposed[index]["hypothesis"]
    after = proposed[reverted["iteration"]]
    assert "no candidate survived" not in after["hypothesis"]
    assert "naysayer" not in done[reverted["iteration"]]["fired"]


def test_a_mechanism_whose_chosen_candidates_keep_diverging_is_reverted(tmp_path: Path) -> None:
    events = study(
        tmp_path,
        "blowup",
        DIVERGE,
        ("propose",),
        CHOSEN_HARMFUL_TO_REVERT + 2,
        arbiter="tests.security.test_host_breaker:MechanismFirst",
    )
    done = trials(events)
    own = [i for i, e in sorted(done.items()) if e.get("source") == "mechanism:blowup"]
    assert len(own) == CHOSEN_HARMFUL_TO_REVERT
    assert all(done[i]["result"]["status"] == "diverged" for i in own)
    reverted = only(events, "mechanism_reverted")
    assert reverted["name"] == "blowup" and reverted["breaker"] == BREAKER_CHOSEN_HARMFUL
    assert "diverged" in reverted["reason"] and reverted["failures"] == 0
    # Reverted before the next trial was planned: that one is Level 1's.
    assert reverted["iteration"] == own[-1] + 1
    after = [e for i, e in sorted(done.items()) if i > own[-1]]
    assert after and all(e.get("source") != "mechanism:blowup" for e in after)
    assert only(events, "study_finished")


def test_a_mechanism_whose_calls_keep_running_slow_is_reverted(tmp_path: Path) -> None:
    """The module body re-runs on every call; the per-call budget is set low here so the
    test is fast and still measures the real sandbox's per-mechanism time."""
    from orchestrator.state import rebuild_state

    config = StudyConfig.from_dict({"name": "sloth", "iterations": 3})
    state = rebuild_state(config, [])
    host = LiveMechanismHost(direct_client("process"), slow_call_seconds=0.05)
    journaled: list[tuple[str, dict[str, Any]]] = []
    try:
        stored = store_mechanism(tmp_path, "sloth", SLOW)
        host.queue_promotion(Promotion(stored=stored, hooks=("guide",)))
        host.boundary(0, lambda event: journaled.append(as_pair(event)))
        for _ in range(3):
            out = host.guide(state.hook_context(0))
            assert out.fired == ["sloth"] and not out.errors  # valid output every time
        assert host.active() == []  # tripped: no longer called
        _, reverted = host.boundary(1, lambda event: journaled.append(as_pair(event)))
    finally:
        host.client.close()
    assert reverted == ["sloth"]
    kind, fields = journaled[-1]
    assert kind == "mechanism_reverted" and fields["breaker"] == BREAKER_SLOW_CALLS
    assert "module load included" in fields["reason"]


def as_pair(event: Event) -> tuple[str, dict[str, Any]]:
    """An emitted event as (type, the fields its writer set)."""
    record = event.record()
    return record.pop("type"), {k: v for k, v in record.items() if k not in ("seq", "ts")}
