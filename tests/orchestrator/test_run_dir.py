"""Where `bilevel study` writes when no --out is given: never over a finished run."""

from __future__ import annotations

from pathlib import Path

from orchestrator.commands.study import default_run_dir
from orchestrator.events import StudyFinished, StudyStarted
from orchestrator.journal import Journal


def _study(root: Path, name: str, *, finished: bool) -> None:
    journal = Journal(root / name / "events.jsonl")
    journal.append(StudyStarted(study=name))
    if finished:
        journal.append(StudyFinished(best=None))
    journal.close()


def test_a_finished_run_is_kept_and_the_next_study_gets_a_new_dir(tmp_path: Path) -> None:
    assert default_run_dir("quick", resume=False, root=tmp_path) == tmp_path / "quick"
    _study(tmp_path, "quick", finished=True)
    assert default_run_dir("quick", resume=False, root=tmp_path) == tmp_path / "quick-2"
    _study(tmp_path, "quick-2", finished=True)
    assert default_run_dir("quick", resume=False, root=tmp_path) == tmp_path / "quick-3"


def test_an_unfinished_run_stays_the_default_so_resume_is_asked_for(tmp_path: Path) -> None:
    _study(tmp_path, "quick", finished=True)
    _study(tmp_path, "quick-2", finished=False)
    # Not side-stepped: run_study refuses it without --resume, and --resume finds it.
    assert default_run_dir("quick", resume=False, root=tmp_path) == tmp_path / "quick-2"
    assert default_run_dir("quick", resume=True, root=tmp_path) == tmp_path / "quick-2"
    assert default_run_dir("quickstart", resume=False, root=tmp_path) == tmp_path / "quickstart"
