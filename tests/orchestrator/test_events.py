"""The typed journal: one model per event, docs generated from them, old and new journals load."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from orchestrator.events import (
    BY_TYPE,
    DOC_PATH,
    EVENT_MODELS,
    JOURNAL_VERSION,
    MechanismReverted,
    StudyStarted,
    TrialFinished,
    UnknownEvent,
    parse_event,
    render_doc,
    type_name,
)
from orchestrator.journal import Journal, read_events, read_records

REPO = Path(__file__).resolve().parents[2]
DIRS = ("orchestrator", "trainer", "sandbox")
FIXTURE = REPO / "tests" / "fixtures" / "journals" / "v1-builtin" / "events.jsonl"


def test_docs_journal_md_is_generated_from_the_models() -> None:
    text = DOC_PATH.read_text(encoding="utf-8")
    assert render_doc(text) == text, (
        "docs/journal.md is stale: run `python -m orchestrator.events --write`"
    )
    for model in EVENT_MODELS:
        assert f"### `{type_name(model)}`" in text


def test_every_line_of_a_version_1_journal_parses_to_its_model() -> None:
    records = read_records(FIXTURE)
    events = read_events(FIXTURE)
    assert len(events) == len(records) == 44
    for record, event in zip(records, events, strict=True):
        assert type(event) is BY_TYPE[record["type"]]
        assert event.record() == record  # nothing added, nothing lost
    started = events[0]
    assert isinstance(started, StudyStarted) and started.version == 1
    assert not started.was_set("version")


def test_unknown_types_and_fields_are_kept_and_written_back_unchanged(tmp_path: Path) -> None:
    newer = {"seq": 0, "ts": "t", "type": "from_the_future", "payload": {"x": 1}}
    event = parse_event(newer)
    assert isinstance(event, UnknownEvent) and event.record() == newer
    finished = parse_event(
        {
            "seq": 1,
            "ts": "t",
            "type": "trial_finished",
            "index": 3,
            "result": {"status": "pruned", "value": None},
            "pruned": {"saved_s": 2.5},
            "field_of_a_newer_version": [1, 2],
        }
    )
    assert isinstance(finished, TrialFinished)
    assert finished.status == "pruned" and finished.index == 3
    assert finished.record()["field_of_a_newer_version"] == [1, 2]


def test_writer_sets_envelope_and_writes_only_the_fields_set(tmp_path: Path) -> None:
    with Journal(tmp_path) as journal:
        journal.append(StudyStarted(version=JOURNAL_VERSION, study="s"))
        event = journal.append(MechanismReverted(name="m", reason="r"))
    assert event.seq == 1 and event.ts
    lines = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert lines[1] == {"seq": 1, "ts": event.ts, "type": "mechanism_reverted",
                        "name": "m", "reason": "r"}  # fmt: skip
    assert "breaker" not in lines[1]  # absent unless a circuit breaker tripped
    assert lines[0]["version"] == JOURNAL_VERSION


def test_a_field_of_the_wrong_type_is_a_damaged_journal(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(
        json.dumps({"seq": 0, "ts": "t", "type": "trial_finished", "index": "x"}) + "\n"
    )
    with pytest.raises(ValueError, match="does not parse"):
        read_events(path)


def test_reopening_continues_the_seq_and_refuses_one_that_is_not_a_number(
    tmp_path: Path,
) -> None:
    with Journal(tmp_path) as journal:
        journal.append(StudyStarted(study="s"))
    with Journal(tmp_path) as journal:
        assert journal.append(MechanismReverted(name="m")).seq == 1
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps({"seq": "1", "ts": "t", "type": "study_started"}) + "\n")
    with pytest.raises(ValueError, match="no whole-number seq"):
        Journal(path)


def test_no_event_name_is_a_string_literal_outside_the_event_models() -> None:
    names = "|".join(BY_TYPE)
    found = subprocess.run(
        # a quoted name that is not a dict key ("noise_floor": ... is a payload's field)
        ["git", "grep", "--untracked", "-nE", f"[\"']({names})[\"']([^:]|$)", "--", *DIRS],
        capture_output=True,
        text=True,
        cwd=REPO,
    ).stdout.splitlines()
    outside = [line for line in found if not line.startswith("orchestrator/events.py:")]
    assert not outside, "\n".join(outside)
    assert re.search(r"^orchestrator/events\.py:", "\n".join(found), re.M)
