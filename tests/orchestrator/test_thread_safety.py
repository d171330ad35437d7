"""The study state changes on the loop's thread only, once per journal event, in journal
order, while research sessions journal from their own threads.

Both tests race other threads' appends against a loop that keeps appending and reading
the state. The old journal called its subscribers on whichever thread appended, so a
research session's events changed the state beside the loop, and the research driver
applied promotions and reverts a second time itself: both tests fail on that code.
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from orchestrator.config import StudyConfig
from orchestrator.events import Event, LlmCall, MechanismPromoted, TrialFinished, TrialProposed
from orchestrator.journal import Journal, read_events
from orchestrator.level2.research.wiring import make_level2
from orchestrator.state import StudyState, rebuild_state
from orchestrator.study import run_study
from tests.research.support import direct_client

# Threads appending beside the loop, and events each: enough appends that, with the old
# journal, a research thread's events would reach the state during the loop's turns.
RACERS = 4
RACER_EVENTS = 150
LOOP_TRIALS = 60

# A benchmark study short enough for a unit test yet long enough that research sessions
# (the built-in agent, the process sandbox) run and promote while trials still go on.
STUDY = {
    "name": "threads",
    "iterations": 10,
    "objective": {
        "kind": "benchmark",
        "benchmark": "hartmann6",
        "direction": "maximize",
        "metric": "neg_f",
        # Seconds per trial: a session (a few seconds on the process sandbox) ends while
        # the study still has trials to shape, so a promotion lands mid-study.
        "delay_s": 0.5,
    },
    "levels": {"policy": False, "research": True, "research_every": 2, "stagnation": 100},
    "llm": {"provider": "builtin"},
}


class _Recorder:
    """Which thread applied which journal event to the state."""

    def __init__(self) -> None:
        self.applied: list[tuple[int | None, str, str]] = []  # (seq, type, thread name)
        self._lock = threading.Lock()

    def record(self, event: Event) -> None:
        with self._lock:
            self.applied.append((event.seq, event.type, threading.current_thread().name))

    def check(self, journal_path: Path, loop_thread: str) -> None:
        threads = {thread for _, _, thread in self.applied}
        assert threads == {loop_thread}, f"the state was changed on {threads - {loop_thread}}"
        seqs = [seq for seq, _, _ in self.applied]
        twice = [seq for seq, n in Counter(seqs).items() if n > 1]
        assert not twice, f"events applied more than once: seq {twice}"
        assert seqs == sorted(seqs), "events were applied out of journal order"
        journaled = [e.seq for e in read_events(journal_path) if e.seq >= min(seqs)]
        assert seqs == journaled, "the state missed journaled events"


def test_events_appended_by_other_threads_reach_the_state_on_the_loops_thread(
    tmp_path: Path,
) -> None:
    config = StudyConfig.from_dict({"name": "race", "iterations": LOOP_TRIALS})
    state = StudyState(config=config)
    recorder = _Recorder()
    journal = Journal(tmp_path)

    def fold(event: Event) -> None:
        recorder.record(event)
        state.apply(event)

    journal.subscribe(fold)
    start = threading.Barrier(RACERS + 1)

    def racer(n: int) -> None:
        start.wait()
        for i in range(RACER_EVENTS):
            journal.append(LlmCall(role=f"racer-{n}", prompt_tokens=i, cost_usd=0.001))

    threads = [threading.Thread(target=racer, args=(n,), name=f"racer-{n}") for n in range(RACERS)]
    for thread in threads:
        thread.start()
    start.wait()
    for index in range(LOOP_TRIALS):  # the loop: propose, read the state, finish
        journal.append(TrialProposed(index=index, config={}, changes={}))
        assert state.trials[index].status == "pending"  # its own events apply at once
        result = {"status": "ok", "value": float(index), "val_bpb": float(index)}
        journal.append(TrialFinished(index=index, result=result, kept=True))
        assert state.best_index == index
    for thread in threads:
        thread.join()
    journal.append(TrialProposed(index=LOOP_TRIALS, config={}, changes={}))  # a safe point
    journal.close()

    recorder.check(journal.path, threading.current_thread().name)
    rebuilt = rebuild_state(config, read_events(tmp_path))
    assert state.llm_tokens == rebuilt.llm_tokens == RACERS * sum(range(RACER_EVENTS))
    assert state.llm_cost_usd == pytest.approx(RACERS * RACER_EVENTS * 0.001)
    assert state.trials == rebuilt.trials and state.best_index == rebuilt.best_index


def test_a_study_with_research_threads_changes_its_state_on_the_loops_thread_once_per_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = _Recorder()
    fold = StudyState.apply

    def recording_apply(self: StudyState, event: Event) -> None:
        recorder.record(event)
        fold(self, event)

    monkeypatch.setattr(StudyState, "apply", recording_apply)
    config = StudyConfig.from_dict(STUDY)
    out = tmp_path / "run"
    host, driver = make_level2(config, out, client=direct_client("process"))
    observed: list[Any] = []
    summary = run_study(
        config,
        out,
        mechanism_host=host,
        research=driver,
        observer=lambda kind, payload: observed.append(payload) if kind == "event" else None,
    )

    events = read_events(out)
    session_threads = {t for _, kind, t in recorder.applied if kind == "research_round"}
    assert any(e.type == "research_round" for e in events), "no research session ran"
    assert any(isinstance(e, MechanismPromoted) for e in events), "nothing was promoted"
    # Every event after the resume-fold of an empty journal came through the loop, once.
    recorder.check(out / "events.jsonl", threading.current_thread().name)
    assert not session_threads - {threading.current_thread().name}
    assert [e.seq for e in observed] == [e.seq for e in events[: len(observed)]]
    assert summary.trials_by_status == rebuild_state(config, events).trials_by_status()
