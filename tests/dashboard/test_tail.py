"""The incremental journal reader: appended events only, torn lines left for later, restarts."""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator.dashboard.runs import RunsDir
from orchestrator.dashboard.tail import JournalTail


def line(seq: int, kind: str = "llm_call", **fields: object) -> bytes:
    return (
        json.dumps({"seq": seq, "ts": "2026-11-29T00:00:00+00:00", "type": kind, **fields}) + "\n"
    ).encode()


def test_reads_only_what_was_appended_and_waits_for_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(line(0) + line(1) + b'{"seq": 2, "ty')
    tail = JournalTail(path)
    assert [e["seq"] for e in tail.read().events] == [0, 1]
    assert tail.read().events == []
    with path.open("ab") as handle:
        handle.write(b'pe": "llm_call"}\n' + line(3) + b"not json\n")
    read = tail.read()
    assert [e["seq"] for e in read.events] == [2, 3] and not read.reset
    assert tail.damaged == 1


def test_a_truncated_or_replaced_journal_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(line(0) + line(1) + line(2))
    tail = JournalTail(path)
    assert len(tail.read().events) == 3
    path.write_bytes(line(0))  # shorter: a resume cut it, or another file replaced it
    read = tail.read()
    assert read.reset and [e["seq"] for e in read.events] == [0]
    replacement = tmp_path / "other.jsonl"
    replacement.write_bytes(line(0) + line(1) + line(2) + line(3))
    replacement.replace(path)
    read = tail.read()
    assert read.reset and len(read.events) == 4


def test_views_follow_the_journal_and_tolerate_unknown_and_malformed_events(tmp_path: Path) -> None:
    run = tmp_path / "s"
    run.mkdir()
    journal = run / "events.jsonl"
    journal.write_bytes(
        line(0, "study_started", study="s", config={"objective": {"preset": "p"}})
        + line(1, "trial_proposed", index=0, changes={}, config={"A": 1}, source="baseline")
        + line(2, "from_the_future", anything=[1, 2])
        + line(3, "trial_finished", index="zero")  # malformed: skipped
        + line(4, "trial_finished", index=0, result={"status": "ok", "val_bpb": 2.5}, kept=True)
    )
    runs = RunsDir(tmp_path)
    view = runs.view("s")
    assert view is not None and view.best == 2.5 and view.metric.name == "val_bpb"
    with journal.open("ab") as handle:
        handle.write(
            line(5, "trial_finished", index=1, result={"status": "ok", "val_bpb": 2.0}, kept=True)
        )
    view = runs.view("s")
    assert view is not None and [t.value for t in view.ordered()] == [2.5, 2.0] and view.best == 2.0
    assert view.improvement == 0.5
    assert runs.view("../s") is None and runs.view("s/..") is None and runs.view("/etc") is None


def test_a_maximised_metric_named_in_the_journal_is_used(tmp_path: Path) -> None:
    run = tmp_path / "m"
    run.mkdir()
    (run / "events.jsonl").write_bytes(
        line(0, "study_started", study="m", metric={"name": "accuracy", "direction": "maximize"})
        + line(
            1,
            "trial_finished",
            index=0,
            source="baseline",
            result={"status": "ok", "value": 0.5},
            kept=True,
        )
        + line(2, "trial_finished", index=1, result={"status": "ok", "value": 0.7}, kept=True)
    )
    view = RunsDir(tmp_path).view("m")
    assert view is not None and view.metric.name == "accuracy" and view.metric.maximize
    assert view.best == 0.7 and abs((view.improvement or 0) - 0.2) < 1e-9


def test_the_metric_fields_of_study_started_are_read(tmp_path: Path) -> None:
    """docs/journal.md: ``metric`` (name) and ``direction`` beside the config."""
    run = tmp_path / "r"
    run.mkdir()
    (run / "events.jsonl").write_bytes(
        line(0, "study_started", metric="reward", direction="maximize", config={})
        + line(
            1,
            "trial_finished",
            index=0,
            source="baseline",
            result={"status": "ok", "value": 1.0, "metric": "reward"},
            kept=True,
        )
        + line(
            2,
            "trial_finished",
            index=1,
            result={"status": "ok", "value": 0.5},
            kept=False,
            best_value=1.0,
        )
    )
    view = RunsDir(tmp_path).view("r")
    assert view is not None and (view.metric.name, view.metric.direction) == ("reward", "maximize")
    assert view.best == 1.0 and view.improvement == 0.0


def test_the_arbiters_credit_is_shown_when_journaled(tmp_path: Path) -> None:
    from orchestrator.dashboard.payloads import mechanisms

    run = tmp_path / "c"
    run.mkdir()
    credits = {"level1": {"credit": 0.1}, "mechanism:tabu": {"credit": 0.4, "bonus": None}}
    (run / "events.jsonl").write_bytes(
        line(
            0,
            "mechanism_promoted",
            name="tabu",
            sha="s",
            path="mechanisms/tabu-s.py",
            active_from=1,
        )
        + line(1, "source_chosen", index=1, chosen="mechanism:tabu", credits=credits)
        + line(2, "trial_proposed", index=1, source="mechanism:tabu", fired=["tabu"], config={})
    )
    view = RunsDir(tmp_path).view("c")
    assert view is not None
    data = mechanisms(view)
    assert data["arbiter"] == {"indices": [1], "series": {"level1": [0.1], "mechanism:tabu": [0.4]}}
    (row,) = data["mechanisms"]
    assert (row["name"], row["status"], row["fired"], row["arbiter_credit"]) == (
        "tabu",
        "live",
        1,
        0.4,
    )


def test_a_killed_study_is_stopped_and_its_trials_in_flight_interrupted(tmp_path: Path) -> None:
    import os

    from orchestrator.dashboard.payloads import overview

    run = tmp_path / "k"
    run.mkdir()
    journal = run / "events.jsonl"
    journal.write_bytes(
        line(0, "study_started", study="k", config={})
        + line(1, "trial_proposed", index=0, source="baseline", config={"A": 1})
    )
    runs = RunsDir(tmp_path)
    assert runs.view("k") is not None
    live = overview(runs.view("k"), runs.modified("k"))
    assert live["row"]["state"] == "running" and live["trials"][0]["status"] == "running"
    os.utime(journal, (1, 1))  # silent for decades: the process is gone
    runs = RunsDir(tmp_path)
    stopped = overview(runs.view("k"), runs.modified("k"))
    assert stopped["row"]["state"] == "stopped" and stopped["row"]["running"] == 0
    assert stopped["trials"][0]["status"] == "interrupted"


def test_the_study_header_shows_the_phase(tmp_path: Path) -> None:
    from orchestrator.dashboard.payloads import overview, safe

    run = tmp_path / "p"
    run.mkdir()
    journal = run / "events.jsonl"
    journal.write_bytes(
        line(0, "study_started", study="p", config={})
        + line(1, "trial_proposed", index=0, source="baseline", config={"A": 1})
    )
    runs = RunsDir(tmp_path)
    # A journal written before phases were journaled: the phase of its last trial.
    assert overview(runs.view("p"), runs.modified("p"))["phase"] == "baseline"
    with journal.open("ab") as f:
        f.write(line(2, "phase_changed", phase="search\x1b[2J\u202e"))
    runs = RunsDir(tmp_path)
    served = safe(overview(runs.view("p"), runs.modified("p")))  # as the API sends it
    assert served["phase"] == "search"  # the escape sequence and the bidi override removed
