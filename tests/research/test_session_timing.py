"""A research session that could not finish in time to matter is not started."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from orchestrator.config import StudyConfig
from orchestrator.events import Event, parse_event
from orchestrator.level2.research.driver import MIN_TRIALS_AFTER_SESSION, session_would_be_wasted
from orchestrator.state import StudyState, rebuild_state

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _at(seconds: float, kind: str, **fields: Any) -> Event:
    return parse_event(
        {"type": kind, "ts": (T0 + timedelta(seconds=seconds)).isoformat(), **fields}
    )


def _study(proposed: int, session_s: float | None, provider: str = "openai") -> StudyState:
    """``proposed`` search trials of 10 s each, and one earlier session of ``session_s``."""
    llm = {"provider": provider} if provider == "builtin" else {"provider": provider, "model": "m"}
    config = StudyConfig.from_dict({"name": "t", "iterations": 10, "llm": llm})
    spec = {
        "trial_id": "x", "index": 0, "preset": "cpu-tiny", "dataset": "pinned",
        "budget": {"mode": "tokens", "amount": 8192}, "config": {}, "seed": 0, "device": "cpu",
    }  # fmt: skip
    events: list[Event] = []
    for i in range(proposed):
        source = "baseline" if i == 0 else "builtin"
        events.append(_at(10 * i, "trial_proposed", index=i, config={}, source=source))
        result = {"status": "ok", "val_bpb": 5.0, "spec": {**spec, "index": i}}
        events.append(_at(10 * i + 10, "trial_finished", index=i, result=result, kept=i == 0))
    if session_s is not None:
        events.append(_at(0, "research_started", session=1))
        events.append(_at(session_s, "research_finished", session=1, outcome="promoted"))
    return rebuild_state(config, events)


def test_a_session_that_fits_starts() -> None:
    assert session_would_be_wasted(_study(proposed=5, session_s=20)) == ""


def test_a_session_longer_than_what_is_left_is_skipped_with_the_reason() -> None:
    reason = session_would_be_wasted(_study(proposed=6, session_s=300))
    assert "~300 s" in reason and "4 trials" in reason


def test_no_session_when_fewer_trials_are_left_than_it_could_shape() -> None:
    reason = session_would_be_wasted(
        _study(proposed=10 - MIN_TRIALS_AFTER_SESSION + 1, session_s=None)
    )
    assert "search trial(s) left" in reason


def test_a_builtin_session_is_judged_by_trials_left_only() -> None:
    # Free sessions beside fast trials: the time rule would skip them, the count rule not.
    assert session_would_be_wasted(_study(proposed=6, session_s=300, provider="builtin")) == ""
    reason = session_would_be_wasted(
        _study(proposed=10 - MIN_TRIALS_AFTER_SESSION + 1, session_s=300, provider="builtin")
    )
    assert "search trial(s) left" in reason
