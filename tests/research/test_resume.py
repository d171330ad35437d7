"""Promotion is journaled and content-addressed, so a resumed study gets its live
mechanisms back from the journal (and refuses a module edited after promotion)."""

from __future__ import annotations

from pathlib import Path

from orchestrator.config import StudyConfig
from orchestrator.journal import Journal, read_events
from orchestrator.level2.mechanisms import LiveMechanismHost, Promotion, store_mechanism
from orchestrator.level2.research import Level2Driver, SandboxLadder, library
from orchestrator.levels.proposals import Proposal
from orchestrator.state import rebuild_state
from sandbox.gate import allowed_modules
from tests.research.support import direct_client


def _driver(config: StudyConfig, run_dir: Path, client: object) -> Level2Driver:
    host = LiveMechanismHost(client)
    return Level2Driver(
        config, run_dir, host, SandboxLadder(client, config.search_space()), allowed_modules()
    )


def test_live_mechanisms_come_back_from_the_journal_on_resume(tmp_path: Path) -> None:
    config = StudyConfig.from_dict({"name": "resume", "iterations": 5})
    client = direct_client("process")
    tabu = library()["tabu_screen"]

    # First run: a promotion is queued by a session and goes live at a boundary.
    journal = Journal(tmp_path)
    state = rebuild_state(config, [])
    journal.subscribe(state.apply)  # as the study loop folds its journal
    first = _driver(config, tmp_path, client)
    stored = store_mechanism(tmp_path, tabu.name, tabu.source)
    first.host.queue_promotion(Promotion(stored=stored, session=1, hooks=tabu.hooks))
    update = first.at_boundary(state, journal)
    assert update.promoted == ["tabu_screen"] and state.active_mechanisms == {
        "tabu_screen": stored.sha
    }
    journal.close()

    # "Resume": a new process, a new host, the same run dir.
    journal = Journal(tmp_path)
    state = rebuild_state(config, read_events(tmp_path))
    journal.subscribe(state.apply)
    second = _driver(config, tmp_path, client)
    update = second.at_boundary(state, journal)
    assert update.promoted == [] and second.host.active() == ["tabu_screen"]
    ctx = state.hook_context(0)
    again = Proposal(changes={}, source="llm", rationale="the defaults again")
    screened = second.host.screen(ctx, [again])
    assert screened.errors == []
    assert screened.verdicts[0].accept  # nothing ran yet: nothing to repeat
    assert len([e for e in read_events(tmp_path) if e["type"] == "mechanism_promoted"]) == 1
    journal.close()

    # A module changed on disk after promotion is not what passed the ladder: reverted.
    (tmp_path / stored.path).write_text(tabu.source + "\n# edited\n")
    journal = Journal(tmp_path)
    state = rebuild_state(config, read_events(tmp_path))
    journal.subscribe(state.apply)
    third = _driver(config, tmp_path, client)
    third.at_boundary(state, journal)
    journal.close()
    assert third.host.active() == [] and state.active_mechanisms == {}
    (reverted,) = [e for e in read_events(tmp_path) if e["type"] == "mechanism_reverted"]
    assert "modified after promotion" in reverted["reason"]
