"""The report and the dashboard show what the loop decided from: all three fold the journal
through :meth:`orchestrator.state.StudyLog.apply`, so they agree on the incumbent, the kept
trials and the counts, and an odd journal (a newer version's events, a torn last line) is
shown by both rather than refused."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from orchestrator.config import StudyConfig
from orchestrator.dashboard.payloads import mechanisms, overview, research
from orchestrator.dashboard.runs import RunsDir
from orchestrator.dashboard.view import mechanism_status
from orchestrator.events import (
    ChallengeDecided,
    GateVerdict,
    MechanismPromoted,
    MechanismReverted,
    ResearchFinished,
    TrialFinished,
    TrialProposed,
)
from orchestrator.journal import journal_path, read_events
from orchestrator.level2.mechanisms.status_table import mechanism_rows, render_mechanisms
from orchestrator.report.data import load_run
from orchestrator.report.study import write_report
from orchestrator.state import StudyLog, rebuild_state
from orchestrator.study import run_study

STUDY = "fold"


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[StudyConfig, Path]:
    """A short noisy benchmark study: baseline, repeats, search with races, final re-runs."""
    config = StudyConfig.from_dict(
        {
            "name": STUDY,
            "iterations": 12,
            "seed": 3,
            "objective": {"kind": "benchmark", "benchmark": "hartmann6", "noise": 0.3},
            "levels": {"policy": False, "research": False},
            "acceptance": {"final_reruns": 2},
        }
    )
    run = tmp_path_factory.mktemp("fold") / STUDY
    run_study(config, run)
    return config, run


def test_report_dashboard_and_state_agree_on_a_real_study(
    study: tuple[StudyConfig, Path],
) -> None:
    config, run = study
    state = rebuild_state(config, read_events(journal_path(run)))
    report = load_run(run)
    view = RunsDir(run.parent).view(STUDY)
    assert view is not None
    best = state.best()
    assert best is not None and state.finished and report.finished and view.finished
    kept = [t.index for t in state.finished_trials() if t.kept]
    assert len(kept) >= 2, "the study kept nothing after its baseline: nothing to compare"
    assert [t.index for t in report.trials if t.kept] == kept
    assert [t.index for t in view.ordered() if t.kept] == kept
    counts = state.trials_by_status()
    assert dict(report.status_counts()) == counts
    assert dict(Counter(t.status for t in view.ordered())) == counts
    assert len(report.trials) == len(view.ordered()) == len(state.trials)
    # The incumbent, and its value after each trial as journaled (paired: a mean).
    assert report.summary is not None and report.summary.best is not None
    assert report.summary.best["index"] == best.index
    assert view.best == state.best_value is not None
    curve = [(t.index, t.best_value) for t in state.ordered() if t.finished]
    assert [(t.index, t.best_value) for t in report.trials] == curve
    assert [(t.index, t.best) for t in view.ordered()] == curve
    assert report.baseline_value == view.baseline == state.baseline().value  # type: ignore[union-attr]
    assert report.metric == view.metric == config.metric()
    assert report.log.phase == view.phase == state.phase == "done"


def test_an_odd_journal_renders_in_the_dashboard_and_the_report(
    study: tuple[StudyConfig, Path], tmp_path: Path
) -> None:
    """A newer version's unknown event type and a kill's torn last line: skipped, not fatal."""
    config, source = study
    run = tmp_path / "odd"
    run.mkdir()
    lines = journal_path(source).read_text().splitlines()
    half = len(lines) // 2
    future = {"seq": half, "ts": "", "type": "from_the_future", "anything": [1, {"x": 2}]}
    # A known type whose policy the fold cannot read: skipped.
    bogus = {"seq": half + 1, "ts": "", "type": "policy_changed", "policy": {"frozen": 5}}
    odd = [*lines[:half], json.dumps(future), json.dumps(bogus)]
    odd += [
        json.dumps({**json.loads(line), "seq": int(json.loads(line)["seq"]) + 2})
        for line in lines[half:-1]
    ]
    torn = '{"seq": 9999, "type": "trial_fini'
    (run / "events.jsonl").write_text("\n".join(odd) + "\n" + torn)
    expected = sum(1 for line in lines[:-1] if json.loads(line)["type"] == "trial_finished")

    view = RunsDir(tmp_path).view("odd")
    assert view is not None
    page = overview(view, modified=0.0)
    assert len([t for t in page["trials"] if t["status"] != "running"]) == expected
    assert view.best is not None and view.metric == config.metric()

    report = load_run(run)
    assert len(report.trials) == expected and report.best_value == view.best
    markdown = write_report(run).markdown.read_text()
    assert STUDY in markdown and "not finished" in markdown


def test_the_level2_table_reads_the_loops_fold() -> None:
    """`bilevel status`'s Level 2 table shows what the loop's fold holds: the mechanism the
    loop has live, and a trial it fired in that was kept only after its race."""
    events = [
        GateVerdict(session=1, mechanism="tabu", accepted=True, stage="contract", sha="ab12"),
        GateVerdict(session=1, mechanism="bad", stage="static", reason="imports os"),
        MechanismPromoted(session=1, name="tabu", sha="ab12", active_from=2),
        ResearchFinished(session=1, outcome="promoted", mechanism="tabu"),
        TrialProposed(index=2, source="mechanism:tabu", fired=["tabu"]),
        TrialFinished(index=2, source="mechanism:tabu", status="ok", value=1.0, fired=["tabu"]),
        ChallengeDecided(challenger=2, incumbent=0, verdict="accept"),
    ]
    log = StudyLog()
    for event in events:
        log.apply(event)
    assert list(log.active_mechanisms) == ["tabu"]
    assert [(m.name, m.state) for m in log.mechanisms.values()] == [
        ("tabu", "live"),
        ("bad", "rejected"),
    ]
    rows = {r.name: r for r in mechanism_rows(log)}
    assert (rows["tabu"].fired, rows["tabu"].chosen, rows["tabu"].kept) == (1, 1, 1)
    assert rows["tabu"].shaped == [2] and rows["tabu"].active_from == 2
    assert rows["bad"].verdicts == ["attempt 0 static rejected: imports os"]
    table = render_mechanisms(events)
    assert table == render_mechanisms(log)
    assert table.splitlines()[0] == "Level 2: 1 research session (1 promoted)"
    assert "tabu [ab12] from trial 2: live, firing" in table
    assert "1 of the trials it shaped became the new best" in table


def _odd_level2_journal(run: Path) -> None:
    """Two research sessions: the first's module fails its first attempt (a verdict whose
    fields a hand edit made strings) and passes its repair, goes live and is reverted; the
    second's new version of it fails the ladder while the first version is live."""
    events = [
        {"type": "study_started", "study": "odd", "config": {"name": "odd"}},
        {"type": "research_started", "session": 1, "trigger": "cadence", "iteration": 2},
        {"type": "research_round", "session": 1, "round": "explore", "summary": "s", "payload": {}},
        {
            "type": "gate_verdict",
            "session": "1",
            "mechanism": "tabu",
            "attempt": 0,
            "accepted": "false",
            "stage": "static",
            "reason": "imports os",
            "sha": "aaaa",
            "path": "research/session-1/tabu-0-aaaa.py",
        },
        {"type": "from_the_future", "session": 1},
        {
            "type": "gate_verdict",
            "session": 1,
            "mechanism": "tabu",
            "attempt": 1,
            "accepted": True,
            "stage": "contract",
            "sha": "bbbb",
            "path": "research/session-1/tabu-1-bbbb.py",
        },
        {"type": "research_finished", "session": 1, "outcome": "promoted", "mechanism": "tabu"},
        {
            "type": "mechanism_promoted",
            "session": 1,
            "name": "tabu",
            "sha": "bbbb",
            "path": "mechanisms/tabu-bbbb.py",
            "active_from": 3,
            "hooks": ["propose"],
        },
        {"type": "research_started", "session": 2, "trigger": "stagnation", "iteration": 4},
        {
            "type": "gate_verdict",
            "session": 2,
            "mechanism": "tabu",
            "accepted": False,
            "stage": "smoke",
            "reason": "raised",
            "sha": "cccc",
            "path": "research/session-2/tabu-0-cccc.py",
        },
        {"type": "research_finished", "session": 2, "outcome": "rejected", "mechanism": "tabu"},
        {
            "type": "mechanism_reverted",
            "name": "tabu",
            "sha": "bbbb",
            "iteration": 5,
            "reason": "circuit breaker: boom",
        },
    ]
    lines = [json.dumps({"seq": seq, "ts": "", **event}) for seq, event in enumerate(events)]
    (run / "events.jsonl").write_text("\n".join(lines) + "\n")


def test_level2_is_folded_once_for_the_state_the_dashboard_and_the_report(
    tmp_path: Path,
) -> None:
    """The loop's fold, the dashboard's mechanism and research pages and the report's
    session table and markers say the same of Level 2, odd fields included: a verdict's
    ``"false"`` is a rejection everywhere, and a new version's verdict while the old one is
    live leaves the live sha in place."""
    run = tmp_path / "odd"
    run.mkdir()
    _odd_level2_journal(run)
    log = StudyLog()
    for event in read_events(journal_path(run)):
        log.apply_lenient(event)
    tabu = log.mechanisms["tabu"]
    assert (tabu.state, tabu.sha, tabu.session) == ("reverted", "bbbb", 1)
    assert (tabu.active_from, tabu.reverted_at, tabu.hooks) == (3, 5, ["propose"])
    assert (tabu.path, tabu.reason) == ("mechanisms/tabu-bbbb.py", "circuit breaker: boom")
    assert [v.accepted for v in tabu.verdicts] == [False, True, False]
    assert [(s.session, s.outcome, s.repairs) for s in log.research.values()] == [
        (1, "promoted", 1),
        (2, "rejected", 0),
    ]

    view = RunsDir(tmp_path).view("odd")
    assert view is not None
    page = mechanisms(view)
    assert [(m["name"], m["status"], m["sha"], m["session"]) for m in page["mechanisms"]] == [
        (r.name, "reverted", r.sha, r.session) for r in log.mechanisms.values()
    ]
    (row,) = page["mechanisms"]
    assert (row["active_from"], row["reverted_at"], row["reason"], row["hooks"]) == (
        tabu.active_from,
        tabu.reverted_at,
        tabu.reason,
        tabu.hooks,
    )
    assert [(v["session"], v["attempt"], v["accepted"], v["sha"]) for v in page["verdicts"]] == [
        (v.session, v.attempt, v.accepted, v.sha) for v in tabu.verdicts
    ]
    assert [(v["session"], v["accepted"]) for v in page["verdicts"]] == [
        (1, False),
        (1, True),
        (2, False),
    ]

    report = load_run(run)
    table = [(s.session, s.trigger, s.iteration, s.outcome, s.mechanism) for s in report.research]
    assert table == [
        (s.session, s.trigger, s.iteration, s.outcome, s.mechanism) for s in log.research.values()
    ]
    assert table == [
        (s["session"], s["trigger"], s["iteration"], s["outcome"], s["mechanism"])
        for s in research(view)["sessions"]
    ]
    assert table == [
        (1, "cadence", 2, "promoted", "tabu"),
        (2, "stagnation", 4, "rejected", "tabu"),
    ]
    assert [(s["repairs"], len(s["rounds"])) for s in research(view)["sessions"]] == [
        (1, 1),
        (0, 0),
    ]
    marks = [(m.iteration, m.kind, m.label) for m in log.markers]
    assert marks == [
        (2, "research", "#1"),
        (3, "promoted", "tabu"),
        (4, "research", "#2"),
        (5, "reverted", "tabu"),
    ]
    assert [(m.iteration, m.kind, m.label) for m in report.markers] == marks
    assert [
        (m["iteration"], m["kind"], m["label"]) for m in overview(view, 0.0)["markers"]
    ] == marks


def test_a_mechanism_record_follows_its_repair_and_its_successor() -> None:
    """A repair that passes the ladder makes a rejected module a candidate again (the failed
    attempt's reason kept); a successor's promotion marks what it supersedes, which the
    dashboard calls ``reverted``, and names no mechanism the journal never wrote."""
    log = StudyLog()
    log.apply(GateVerdict(session=1, mechanism="tabu", stage="static", reason="imports os"))
    tabu = log.mechanisms["tabu"]
    assert (tabu.state, tabu.reason, mechanism_status(tabu)) == (
        "rejected",
        "imports os",
        "rejected",
    )
    log.apply(
        GateVerdict(session=1, mechanism="tabu", attempt=1, accepted=True, sha="b1", path="t1.py")
    )
    assert (tabu.state, tabu.sha, tabu.path, tabu.reason, mechanism_status(tabu)) == (
        "proposed",
        "b1",
        "t1.py",
        "imports os",
        "candidate",
    )
    log.apply(MechanismPromoted(session=1, name="tabu", sha="b1", path="m/t.py", active_from=2))
    assert (tabu.state, tabu.reason, mechanism_status(tabu)) == ("live", "", "live")
    log.apply(MechanismReverted(name="tabu", sha="b1", iteration=6, reason="superseded by gp"))
    log.apply(
        MechanismPromoted(session=2, name="gp", sha="c2", active_from=6, supersedes=["tabu", "x"])
    )
    assert (tabu.state, tabu.reverted_at, tabu.reason, mechanism_status(tabu)) == (
        "superseded",
        6,
        "superseded by gp",
        "reverted",
    )
    assert list(log.mechanisms) == ["tabu", "gp"] and log.active_mechanisms == {"gp": "c2"}
