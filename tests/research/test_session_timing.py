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


def _timed(*events: tuple[float, str, dict[str, Any]], parallel: int = 1) -> StudyState:
    """A study of 10 iterations folded from ``(seconds, type, fields)`` events."""
    llm = {"provider": "openai", "model": "m"}
    config = StudyConfig.from_dict(
        {"name": "t", "iterations": 10, "parallel": parallel, "llm": llm}
    )
    return rebuild_state(config, [_at(s, kind, **fields) for s, kind, fields in events])


def _trials(durations: list[float | None]) -> list[tuple[float, str, dict[str, Any]]]:
    """Search trials one after another, each ``durations[i]`` s long (None: still running)."""
    out: list[tuple[float, str, dict[str, Any]]] = []
    spec = {
        "trial_id": "x", "preset": "cpu-tiny", "dataset": "pinned",
        "budget": {"mode": "tokens", "amount": 8192}, "config": {}, "seed": 0, "device": "cpu",
    }  # fmt: skip
    t = 0.0
    for i, seconds in enumerate(durations):
        source = "baseline" if i == 0 else "llm"
        out.append((t, "trial_proposed", {"index": i, "config": {}, "source": source}))
        if seconds is not None:
            t += seconds
            result = {"status": "ok", "val_bpb": 5.0, "spec": {**spec, "index": i}}
            out.append((t, "trial_finished", {"index": i, "result": result, "kept": i == 0}))
    return out


def test_before_any_session_ended_the_llm_latencies_estimate_one() -> None:
    # Five trials of 10 s and one running: 4 of 10 left, 2 of them (20 s) to spare. A
    # session that started and never ended (an interrupted run) measures nothing.
    trials = _trials([10, 10, 10, 10, 10, None])
    started = (0.0, "research_started", {"session": 1, "iteration": 3})
    slow = [(1.0, "llm_call", {"latency_s": 1.0}), (2.0, "llm_call", {"latency_s": 3.0})]
    reason = session_would_be_wasted(_timed(*trials, started, *slow))
    # 4 calls of 2 s on average and the ladder's estimate: 23 s
    assert reason.startswith("a session takes ~23 s but the study has ~40 s (4 trials) left")
    fast = [(1.0, "llm_call", {"latency_s": 0.5}), (2.0, "llm_call", {"latency_s": 0.5})]
    assert session_would_be_wasted(_timed(*trials, started, *fast)) == ""  # 17 s


def test_ended_sessions_are_timed_and_trials_share_the_parallel_slots() -> None:
    trials = _trials([10, 30, 20, 20, 20, None])  # 20 s on average
    sessions = [
        (0.0, "research_started", {"session": 1, "iteration": 1}),
        (20.0, "research_finished", {"session": 1, "outcome": "rejected"}),
        (30.0, "research_started", {"session": 2, "iteration": 2}),
        (70.0, "research_finished", {"session": 2, "outcome": "promoted"}),
        (80.0, "llm_call", {"latency_s": 500.0}),  # measured sessions win over the estimate
    ]
    assert session_would_be_wasted(_timed(*trials, *sessions)) == ""  # 30 s of 40 s
    reason = session_would_be_wasted(_timed(*trials, *sessions, parallel=2))
    assert reason.startswith("a session takes ~30 s but the study has ~40 s (4 trials) left")


def test_without_a_timed_trial_only_the_count_decides() -> None:
    # A result without its proposal (a torn write) has no start to time it from.
    spec = {
        "trial_id": "x", "index": 0, "preset": "cpu-tiny", "dataset": "pinned",
        "budget": {"mode": "tokens", "amount": 8192}, "config": {}, "seed": 0, "device": "cpu",
    }  # fmt: skip
    result = {"status": "ok", "val_bpb": 5.0, "spec": spec}
    torn = (10.0, "trial_finished", {"index": 0, "result": result, "kept": True})
    slow = (11.0, "llm_call", {"latency_s": 1000.0})
    assert session_would_be_wasted(_timed(torn, slow)) == ""
