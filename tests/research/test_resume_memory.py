"""A resumed research driver remembers what the journal says earlier sessions did: it takes
that from the study state's fold, and gets what the journal read by itself used to give it.

The reference below is the journal walk the driver did before the fold held Level 2's
sessions, promotions and reverts; the driver's memory and its restored mechanisms must
match it on a real journal and on a hand-built one with every case in it."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from contract.hooks import HOOKS
from orchestrator.config import StudyConfig
from orchestrator.events import (
    Event,
    GateVerdict,
    LlmCall,
    MechanismPromoted,
    MechanismReverted,
    ResearchFinished,
    ResearchSkipped,
    ResearchStarted,
    StudyStarted,
    TrialProposed,
    parse_event,
)
from orchestrator.journal import Journal, read_events
from orchestrator.level2.mechanisms import LiveMechanismHost, store_mechanism
from orchestrator.level2.mechanisms.store import StoreError, load_mechanism
from orchestrator.level2.research import Level2Driver, SandboxLadder, library
from orchestrator.state import StudyState, rebuild_state
from sandbox.gate import allowed_modules
from tests.research.support import direct_client

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "journals" / "v1-builtin"
MISSING_SHA = "0" * 16  # a promoted module whose file is gone: reverted on resume


@dataclass
class Remembered:
    """What the driver restores: its memory and its live mechanisms."""

    sessions: int = 0
    last_session_at: int = 0
    promoted: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    reverted_shas: list[str] = field(default_factory=list)
    skipped: str = ""
    live: list[tuple[str, str, str, int | None, int, tuple[str, ...]]] = field(
        default_factory=list
    )  # (name, sha, path, session, active_from, hooks)


def from_journal(state: StudyState, events: list[Event], run: Path) -> Remembered:
    """The driver's memory and the mechanisms it restored (those whose module loads), as
    its own walk of the journal gave them (the reference)."""
    out = Remembered()
    live: dict[str, MechanismPromoted] = {}
    for e in events:
        if isinstance(e, ResearchStarted):
            out.sessions = max(out.sessions, e.session)
            out.last_session_at = sum(
                1 for t in state.search_trials() if t.finished and t.index < e.iteration
            )
        elif isinstance(e, ResearchSkipped):
            out.skipped = e.reason or "skipped"
        elif isinstance(e, ResearchFinished) and e.outcome == "rejected":
            out.rejected.append(e.mechanism)
        elif isinstance(e, MechanismPromoted):
            out.promoted.append(e.name)
            live[e.name] = e
            for old in e.supersedes:
                live.pop(old, None)
        elif isinstance(e, MechanismReverted):
            live.pop(e.name, None)
            out.reverted_shas.append(e.sha)
    for name, e in live.items():
        try:
            load_mechanism(run, name, e.sha, e.path)
        except StoreError:
            continue
        out.live.append((name, e.sha, e.path, e.session, e.active_from, tuple(e.hooks or HOOKS)))
    return out


def resume(config: StudyConfig, run: Path) -> tuple[Remembered, Remembered, list[Event]]:
    """The reference memory of ``run``'s journal, the memory a new driver restores from the
    fold of it, and the events that restore journaled."""
    before = read_events(run)
    state = rebuild_state(config, before)
    reference = from_journal(state, before, run)
    journal = Journal(run)
    journal.subscribe(state.apply)  # as the study loop folds its journal
    client = direct_client("process")
    driver = Level2Driver(
        config,
        run,
        LiveMechanismHost(client),
        SandboxLadder(client, config.search_space()),
        allowed_modules(),
        research=False,  # restore only: no session starts
    )
    driver.at_boundary(state, journal)
    journal.close()
    memory = driver._memory
    assert memory is not None
    restored = Remembered(
        sessions=memory.sessions,
        last_session_at=memory.last_session_at,
        promoted=memory.promoted,
        rejected=memory.rejected,
        reverted_shas=memory.reverted_shas,
        skipped=memory.skipped,
        live=[
            (m.name, m.stored.sha, m.stored.path, m.session, m.active_from, m.hooks)
            for m in driver.host.live()
        ],
    )
    return reference, restored, read_events(run)[len(before) :]


def test_a_resume_restores_the_memory_of_a_real_journal(tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    config = StudyConfig.from_dict({"name": "fixture", "iterations": 7})
    reference, restored, journaled = resume(config, run)
    assert restored == reference
    assert restored.sessions == 1 and restored.promoted == ["ucb_bandit"]
    assert restored.last_session_at == 3  # trials 2 and 3 (search) and the baseline 0
    assert restored.skipped.startswith("only 1 search trial(s) left")
    assert [name for name, *_ in restored.live] == ["ucb_bandit"]
    assert journaled == []  # its module is there: nothing reverted


def _trial(index: int, source: str) -> list[Event]:
    spec = {
        "trial_id": "x", "index": index, "preset": "cpu-tiny", "dataset": "pinned",
        "budget": {"mode": "tokens", "amount": 8192}, "config": {}, "seed": 0, "device": "cpu",
    }  # fmt: skip
    result = {"status": "ok", "val_bpb": 5.0 - index / 10, "spec": spec}
    return [
        TrialProposed(index=index, config={}, source=source),
        parse_event({"type": "trial_finished", "index": index, "result": result, "kept": True}),
    ]


def test_a_resume_restores_sessions_rejections_promotions_supersedes_and_reverts(
    tmp_path: Path,
) -> None:
    config = StudyConfig.from_dict({"name": "resume", "iterations": 20})
    mechanisms = library()
    alpha, gamma, delta = (
        store_mechanism(tmp_path, name, mechanisms[name].source)
        for name in ("latin_hypercube", "tabu_screen", "ucb_bandit")
    )
    gamma_hooks = list(mechanisms["tabu_screen"].hooks)
    events: list[Event] = [StudyStarted(study="resume")]
    events += _trial(0, "baseline") + _trial(1, "builtin") + _trial(2, "builtin")
    # Session 1 promotes alpha (all hooks: the promotion names none).
    events += [
        ResearchStarted(session=1, trigger="cadence", iteration=3),
        GateVerdict(session=1, mechanism=alpha.name, accepted=True, sha=alpha.sha),
        ResearchFinished(session=1, outcome="promoted", mechanism=alpha.name),
        MechanismPromoted(session=1, name=alpha.name, sha=alpha.sha, path=alpha.path),
    ]
    events += _trial(3, "builtin")
    # Session 2's module fails the ladder.
    events += [
        ResearchStarted(session=2, trigger="stagnation", iteration=4),
        GateVerdict(session=2, mechanism="beta", accepted=False, reason="smoke"),
        ResearchFinished(session=2, outcome="rejected", mechanism="beta"),
    ]
    events += _trial(4, "builtin") + _trial(5, "noise")
    # Session 3's gamma supersedes alpha: alpha is reverted, gamma goes live.
    events += [
        ResearchStarted(session=3, trigger="cadence", iteration=6),
        ResearchFinished(session=3, outcome="promoted", mechanism=gamma.name),
        MechanismReverted(name=alpha.name, sha=alpha.sha, iteration=7, reason="superseded"),
        MechanismPromoted(
            session=3,
            name=gamma.name,
            sha=gamma.sha,
            path=gamma.path,
            active_from=7,
            supersedes=[alpha.name],
            hooks=gamma_hooks,
        ),
        LlmCall(role="explore", latency_s=2.0),
    ]
    events += _trial(6, "builtin") + _trial(7, "builtin")
    # Session 4's delta goes live, then its circuit breaker takes it out.
    events += [
        ResearchStarted(session=4, trigger="cadence", iteration=8),
        ResearchFinished(session=4, outcome="promoted", mechanism=delta.name),
        MechanismPromoted(session=4, name=delta.name, sha=delta.sha, path=delta.path),
        MechanismReverted(name=delta.name, sha=delta.sha, iteration=9, reason="breaker"),
        # A promoted module whose file is gone by the resume.
        MechanismPromoted(
            session=4, name="gone", sha=MISSING_SHA, path="mechanisms/gone.py", active_from=9
        ),
    ]
    events += _trial(8, "builtin") + _trial(9, "builtin")
    # Session 5 was running when the study stopped; then a due session was skipped.
    events += [
        ResearchStarted(session=5, trigger="cadence", iteration=10),
        *_trial(10, "builtin"),
        ResearchSkipped(trigger="cadence", iteration=11, reason="too close to the end"),
    ]
    with Journal(tmp_path) as journal:
        for event in events:
            journal.append(event)

    reference, restored, journaled = resume(config, tmp_path)

    assert restored == reference
    assert restored.sessions == 5
    assert restored.last_session_at == 9  # trials 0-4 and 6-9: the noise trial is no search
    assert restored.promoted == [alpha.name, gamma.name, delta.name, "gone"]
    assert restored.rejected == ["beta"]
    assert restored.reverted_shas == [alpha.sha, delta.sha]  # not the resume's own revert
    assert restored.skipped == "too close to the end"
    assert restored.live == [(gamma.name, gamma.sha, gamma.path, 3, 7, tuple(gamma_hooks))]
    (revert,) = journaled
    assert isinstance(revert, MechanismReverted) and revert.name == "gone"
    assert revert.sha == MISSING_SHA and revert.reason.startswith("cannot restore on resume")


def test_a_skip_without_a_reason_still_stops_research(tmp_path: Path) -> None:
    config = StudyConfig.from_dict({"name": "resume", "iterations": 5})
    with Journal(tmp_path) as journal:
        journal.append(StudyStarted(study="resume"))
        journal.append(ResearchSkipped(trigger="cadence"))
    reference, restored, _ = resume(config, tmp_path)
    assert restored == reference and restored.skipped == "skipped"


def test_the_fold_keeps_what_the_resume_and_the_timing_rule_read() -> None:
    state = rebuild_state(
        StudyConfig.from_dict({"name": "t", "iterations": 5}),
        [
            parse_event({"type": "research_started", "ts": "2026-01-01T00:00:00+00:00",
                         "session": 1, "iteration": 0}),
            parse_event({"type": "llm_call", "ts": "2026-01-01T00:00:01+00:00",
                         "latency_s": 1.5}),
            parse_event({"type": "research_finished", "ts": "2026-01-01T00:00:30+00:00",
                         "session": 1, "outcome": "discarded"}),
            # A second end of the same session (its own, racing a close): the first one ends
            # its duration, and a rejection is remembered whichever end says it.
            parse_event({"type": "research_finished", "ts": "2026-01-01T00:09:00+00:00",
                         "session": 1, "outcome": "rejected", "mechanism": "m"}),
            parse_event({"type": "research_skipped", "ts": "2026-01-01T00:10:00+00:00",
                         "reason": "late"}),
            parse_event({"type": "mechanism_reverted", "ts": "2026-01-01T00:11:00+00:00",
                         "name": "x", "sha": "abc"}),
        ],
    )  # fmt: skip
    record = state.research[1]
    assert (record.started_at, record.ended_at) == (
        "2026-01-01T00:00:00+00:00",
        "2026-01-01T00:00:30+00:00",
    )
    assert state.llm_latencies == [1.5]
    assert state.research_skipped is not None and state.research_skipped.reason == "late"
    assert state.reverted_shas == ["abc"] and state.rejected_mechanisms == ["m"]
    assert state.last_research_iteration() == 0 and state.promoted_names() == []
