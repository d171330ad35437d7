"""Journals written before the typed events (version 1) still load, summarise and resume.

The fixture is a real, unedited journal of a small study (tests/fixtures/journals/v1-builtin).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from orchestrator.journal import read_events
from orchestrator.level2.mechanisms.status_table import mechanism_rows
from orchestrator.report.data import load_run
from orchestrator.summary import summary_from_journal
from tests.orchestrator.helpers import CLI, assert_each_index_once, events, run_cli

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "journals" / "v1-builtin"
# The prefix a resume starts from: through trial 5's trial_finished (seq 26), after the
# mechanism was promoted (seq 23), so the resume restores it from mechanisms/.
RESUME_AFTER_SEQ = 26


def copy_run(dest: Path, last_seq: int | None = None) -> Path:
    dest.mkdir(parents=True)
    shutil.copytree(FIXTURE / "mechanisms", dest / "mechanisms")
    lines = (FIXTURE / "events.jsonl").read_text().splitlines(keepends=True)
    keep = lines if last_seq is None else lines[: last_seq + 1]
    (dest / "events.jsonl").write_text("".join(keep))
    return dest


def test_old_journal_loads(tmp_path: Path) -> None:
    run = copy_run(tmp_path / "run")
    loaded = read_events(run)
    assert [e["seq"] for e in loaded] == list(range(44))
    assert loaded[0]["type"] == "study_started" and loaded[-1]["type"] == "study_finished"
    finished = [e for e in loaded if e["type"] == "trial_finished"]
    assert [e["index"] for e in finished] == list(range(12))
    assert all(e["result"]["status"] == "ok" for e in finished)


def test_old_journal_summarises(tmp_path: Path) -> None:
    run = copy_run(tmp_path / "run")
    summary = summary_from_journal(run)
    assert summary.finished and summary.study == "fixture"
    assert summary.trials_by_status == {"ok": 12}
    assert summary.best is not None and summary.best["index"] == 0
    assert summary.baseline_value == summary.best["value"]
    assert summary.noise_floor is not None and summary.noise_floor > 0
    assert {row["source"] for row in summary.credits} == {"level1", "mechanism:ucb_bandit"}
    data = load_run(run)
    assert data.finished and len(data.trials) == 12
    rows = mechanism_rows(read_events(run))
    assert [(r.name, r.state, r.fired) for r in rows] == [("ucb_bandit", "live", 3)]
    status = run_cli([*CLI, "status", str(run)])
    assert status.returncode == 0, status.stderr
    assert "trials: ok=12" in status.stdout
    assert "Level 2: 1 research session (1 promoted)" in status.stdout
    assert "ucb_bandit [aeae6dc161fd74be] from trial 5: live, firing" in status.stdout


def test_old_journal_resumes(tmp_path: Path) -> None:
    run = copy_run(tmp_path / "run", last_seq=RESUME_AFTER_SEQ)
    before = (run / "events.jsonl").read_bytes()
    study = str(FIXTURE / "study.toml")
    args = [*CLI, "study", study, "--resume", "--out", str(run), "--plain", "--allow-weak-sandbox"]
    proc = run_cli(args, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (run / "events.jsonl").read_bytes().startswith(before)  # nothing rewritten
    assert_each_index_once(run, 11)  # 7 iterations, the repeat among them, + 4 final trials
    started = events(run, "study_started")
    assert [e["resumed"] for e in started] == [False, True]
    assert started[0]["run_id"] == started[1]["run_id"]
    # the promoted mechanism came back from its stored file and kept proposing
    assert not events(run, "mechanism_reverted")
    sources = {e["source"] for e in events(run, "trial_proposed")}
    assert "mechanism:ucb_bandit" in sources
    assert len(events(run, "study_finished")) == 1
