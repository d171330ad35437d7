"""What ``--resume`` continues with: the settings the journal recorded, never today's file.

Every ``study_started`` event records the effective settings of its run (the study file with
the command line's overrides applied). A resume starts from the latest of them, so
``--iterations 4 --budget-tokens 20000`` once means the same on every ``--resume``; flags
given to the resume apply on top. A flag that would change what a trial measures (the
objective, its budget and data, the search space, the seed the search trials share) is
refused: results measured under other settings are not comparable, and appending them to
the same journal would mix them. ``--new-study`` starts a new run instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.config import Overrides, StudyConfig
from orchestrator.errors import UserError
from orchestrator.events import StudyFinished, StudyStarted, TrialFinished, TrialProposed
from orchestrator.journal import journal_path, read_events

# The config sections that decide what a trial measures; anything else (iterations, the
# LLM, the executor, parallelism, the levels) may change between the runs of one study.
MEASURED_KEYS = ("objective", "space", "seed")
# Differences named in one refusal: enough to see the cause, still one line.
MAX_DIFFERENCES_SHOWN = 3


def recorded_settings(run_dir: Path) -> dict[str, Any] | None:
    """The config of the run dir's latest ``study_started``, or None (no journal, no record)."""
    path = journal_path(run_dir)
    if not path.is_file():
        return None
    try:
        events = read_events(path)
    except ValueError:  # damaged: run_study says so with the fix
        return None
    started = [e for e in events if isinstance(e, StudyStarted) and e.config]
    return dict(started[-1].config) if started else None


def measurement_differences(recorded: StudyConfig, wanted: StudyConfig) -> list[str]:
    """``objective.budget: 20000 recorded, 160000 now`` for each measured setting that differs."""
    before = _flatten({key: recorded.model_dump(mode="json")[key] for key in MEASURED_KEYS})
    after = _flatten({key: wanted.model_dump(mode="json")[key] for key in MEASURED_KEYS})
    return [
        f"{key}: {before.get(key)!r} recorded, {after.get(key)!r} now"
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    ]


def refuse_changed_measurement(recorded: StudyConfig, wanted: StudyConfig) -> None:
    """A :class:`UserError` naming the difference when ``wanted`` measures other trials."""
    differences = measurement_differences(recorded, wanted)
    if differences:
        shown = "; ".join(differences[:MAX_DIFFERENCES_SHOWN])
        more = len(differences) - MAX_DIFFERENCES_SHOWN
        raise UserError(
            f"--resume would change what a trial measures ({shown}"
            f"{f'; {more} more' if more > 0 else ''}): results under other settings are not "
            "comparable; resume without that flag to go on with the recorded settings, or "
            "pass --new-study to start a new study in a new run dir"
        )


def settings_for_resume(
    file_config: StudyConfig, run_dir: Path, overrides: Overrides
) -> tuple[StudyConfig, str | None]:
    """The config a resume of ``run_dir`` runs with, and a note when the study file's measured
    settings differ from the recorded ones (they are ignored, the record wins).

    The recorded settings come back except where a service may have moved between runs: the
    Redis URL (journaled with its password redacted) and the LLM endpoint come from the file.
    A journal whose record this version cannot read falls back to the file plus overrides.
    """
    recorded_dict = recorded_settings(run_dir)
    if recorded_dict is None:
        return file_config.with_overrides(**overrides), None
    recorded_dict.setdefault("rq", {})["redis_url"] = file_config.rq.redis_url
    recorded_dict.setdefault("llm", {})["base_url"] = file_config.llm.base_url
    try:
        recorded = StudyConfig.from_dict(recorded_dict, source=str(journal_path(run_dir)))
    except UserError:  # an old or foreign record: the file is all there is
        return file_config.with_overrides(**overrides), None
    wanted = recorded.with_overrides(**overrides)
    refuse_changed_measurement(recorded, wanted)
    note = None
    if file_differs := measurement_differences(recorded, file_config):
        note = (
            f"note: the study file now differs from the settings recorded in "
            f"{journal_path(run_dir)} ({file_differs[0]}); resuming with the recorded ones"
        )
    return wanted, note


def interrupted_line(run_dir: Path, study_file: Path) -> str:
    """What an interrupted study saved, and the exact command that continues it."""
    finished: set[int] = set()
    proposed: set[int] = set()
    done = False
    path = journal_path(run_dir)
    try:
        for event in read_events(path) if path.is_file() else []:
            if isinstance(event, TrialFinished):
                finished.add(event.index)
            elif isinstance(event, TrialProposed):
                proposed.add(event.index)
            elif isinstance(event, StudyFinished):
                done = True
    except ValueError:
        pass  # a damaged journal still gets the resume command
    running = len(proposed - finished)
    rerun = f", {running} unfinished will re-run" if running and not done else ""
    return (
        f"interrupted: {len(finished)} finished trials saved in {path}{rerun}; "
        f"resume with: bilevel study {study_file} --resume --out {run_dir}"
    )


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = value
    return out
