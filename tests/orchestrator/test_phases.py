"""The study's phases: one transition function, each change journaled before the phase's
first trial, resumed from the journal, and derived for journals written before phases were
journaled."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orchestrator.config import StudyConfig
from orchestrator.journal import journal_path, read_events
from orchestrator.phases import Phase, PhaseFacts, next_phase, phase_of_source
from orchestrator.state import rebuild_state
from orchestrator.study import run_study

ITERATIONS = 10
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "journals" / "v1-builtin"


def noisy(iterations: int = ITERATIONS) -> StudyConfig:
    return StudyConfig.from_dict(
        {
            "name": "phases",
            "iterations": iterations,
            "seed": 3,
            "objective": {"kind": "benchmark", "benchmark": "hartmann6", "noise": 0.3},
            "levels": {"policy": False, "research": False},
            "acceptance": {"final_reruns": 2},
        }
    )


def journal(run: Path) -> list[dict[str, Any]]:
    return [e.record() for e in read_events(journal_path(run))]


def phases(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["previous"], e["phase"]) for e in events if e["type"] == "phase_changed"]


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("phases") / "run"
    run_study(noisy(), run)
    return run


def test_the_earliest_phase_with_work_left_is_the_phase() -> None:
    def facts(**due: bool) -> PhaseFacts:
        fields = {"noise_due": False, "search_due": False, "reruns_due": False}
        return PhaseFacts(baseline_planned=True, test_due=False, **{**fields, **due})

    assert next_phase(PhaseFacts(False, True, True, True, True)) is Phase.BASELINE
    assert next_phase(facts(noise_due=True, search_due=True)) is Phase.NOISE
    assert next_phase(facts(search_due=True, reruns_due=True)) is Phase.SEARCH
    assert next_phase(facts(reruns_due=True)) is Phase.RERUNS
    assert next_phase(PhaseFacts(True, False, False, False, True)) is Phase.TEST
    assert next_phase(facts()) is Phase.DONE


def test_each_phase_is_journaled_before_its_first_trial(study: Path) -> None:
    events = journal(study)
    assert phases(events) == [
        ("", "baseline"),
        ("baseline", "noise"),
        ("noise", "search"),
        ("search", "reruns"),
        ("reruns", "done"),
    ]
    current = None
    for event in events:
        if event["type"] == "phase_changed":
            current = event["phase"]
        elif event["type"] == "trial_proposed":
            assert phase_of_source(event["source"]) == current, event
    assert [e["type"] for e in events[-2:]] == ["phase_changed", "study_finished"]
    state = rebuild_state(noisy(), events)
    assert state.phase == "done" and state.phase_journaled


def test_a_resume_continues_in_the_journaled_phase(study: Path, tmp_path: Path) -> None:
    lines = journal_path(study).read_text().splitlines()
    search = next(i for i, line in enumerate(lines) if '"phase":"search"' in line)
    cut = next(i for i in range(search, len(lines)) if '"trial_finished"' in lines[i])
    run = tmp_path / "run"
    run.mkdir()
    journal_path(run).write_text("\n".join(lines[: cut + 1]) + "\n")
    assert rebuild_state(noisy(), read_events(journal_path(run))).phase == "search"
    run_study(noisy(), run, resume=True)
    events = journal(run)
    assert phases(events) == phases(journal(study))  # no second "search" on resume
    trials = [(e["source"], e["seed"]) for e in events if e["type"] == "trial_proposed"]
    assert trials == [
        (e["source"], e["seed"]) for e in journal(study) if e["type"] == "trial_proposed"
    ]


def test_more_iterations_on_resume_go_back_to_search(study: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    journal_path(run).write_text(journal_path(study).read_text())
    run_study(noisy(ITERATIONS + 4), run, resume=True)
    resumed = phases(journal(run))[len(phases(journal(study))) :]
    assert resumed[0] == ("done", "search") and resumed[-1][1] == "done"


def test_a_journal_without_phases_is_read_in_its_last_trials_phase(tmp_path: Path) -> None:
    """Journals written before phase_changed: the phase comes from the trials' sources."""
    lines = (FIXTURE / "events.jsonl").read_text().splitlines()
    assert not any('"phase_changed"' in line for line in lines)
    with pytest.warns(FutureWarning):  # its acceptance rule's old name
        config = StudyConfig.from_dict(json.loads(lines[0])["config"])
    finished = rebuild_state(config, [json.loads(line) for line in lines])
    assert finished.phase == "done" and not finished.phase_journaled
    first_search = next(i for i, line in enumerate(lines) if '"source":"builtin"' in line)
    cut = rebuild_state(config, [json.loads(line) for line in lines[: first_search + 1]])
    assert cut.phase == "search"
    first = next(i for i, line in enumerate(lines) if '"trial_proposed"' in line)
    assert rebuild_state(config, [json.loads(line) for line in lines[:first]]).phase is None
    baseline = rebuild_state(config, [json.loads(line) for line in lines[: first + 1]])
    assert baseline.phase == "baseline"
