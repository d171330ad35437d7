"""`bilevel dashboard` on a busy port, its port variable, and study states and counts that
agree with `bilevel status`: a study whose process is gone is "stopped" at once."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.config import StudyConfig
from orchestrator.dashboard import payloads
from orchestrator.dashboard.runs import RunsDir
from orchestrator.errors import UserError
from orchestrator.runlock import RunLock, is_running
from orchestrator.summary import summary_from_journal
from tests.report.journals import write_study_journal

CLI = [sys.executable, "-m", "orchestrator.cli"]
REPO = Path(__file__).resolve().parents[2]


def dashboard(runs: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "dashboard", str(runs), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
    )


@pytest.mark.parametrize("how", ["flag", "variable"])
def test_a_busy_port_is_one_line_and_exit_2(tmp_path: Path, how: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        if how == "flag":
            done = dashboard(tmp_path, "--port", str(port))
        else:  # BILEVEL_DASHBOARD_PORT picks the port when --port is not given
            done = dashboard(tmp_path, BILEVEL_DASHBOARD_PORT=str(port))
    assert done.returncode == 2, done.stdout + done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in done.stderr
    assert "BILEVEL_DASHBOARD_PORT" in done.stderr
    assert "http://" not in done.stdout  # no URL promised for a server that never started


def _hold_lock(run: Path) -> subprocess.Popen[str]:
    code = (
        "import sys, time\nfrom orchestrator.runlock import RunLock\n"
        f"lock = RunLock({str(run)!r})\nprint('held', flush=True)\ntime.sleep(120)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_killed_study_shows_stopped_at_once(tmp_path: Path) -> None:
    run = tmp_path / "live"
    write_study_journal(run, trials=4, with_research=False, finished=False)
    runs = RunsDir(tmp_path)
    proc = _hold_lock(run)
    try:
        assert is_running(run) is True
        view = runs.view("live")
        assert view is not None
        assert payloads.study_row(view, runs.modified("live"))["state"] == "running"
        with pytest.raises(UserError, match="another study is running"):
            RunLock(run)  # a second study on the same run dir is refused
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    # The journal was written just now, yet the study is gone: stopped, not "running" for
    # the next 15 minutes.
    assert is_running(run) is False
    assert payloads.study_row(view, runs.modified("live"))["state"] == "stopped"
    with RunLock(run):  # and a resume may take the run dir over
        assert is_running(run) is True


def test_dashboard_trial_counts_match_status(tmp_path: Path) -> None:
    run = tmp_path / "study"
    write_study_journal(run, trials=8, with_research=False)
    path = run / "events.jsonl"
    events = [json.loads(line) for line in path.read_text().splitlines()]
    events[0]["config"]["iterations"] = 8  # what `bilevel status` needs to rebuild the study
    rerun = {"index": 8, "source": "reseed"}  # a final re-run: not a search trial
    result = {"status": "ok", "val_bpb": 3.1, "spec": {"index": 8, "config": {}}}
    events[-1:-1] = [
        {"seq": 900, "type": "trial_proposed", "config": {}, **rerun},
        {"seq": 901, "type": "trial_finished", "kept": False, "result": result, **rerun},
    ]
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    runs = RunsDir(tmp_path)
    view = runs.view("study")
    assert view is not None
    row = payloads.study_row(view, runs.modified("study"))
    status = summary_from_journal(run)
    assert row["trials"] == sum(status.trials_by_status.values()) == 9


@pytest.mark.parametrize(
    ("objective", "label"),
    [
        (
            {"kind": "function", "target": "userobj:score", "metric": "acc"},
            "function, userobj:score",
        ),
        (
            {"kind": "command", "command": ["python", "train.py"], "metric": "val_loss"},
            "command, python train.py",
        ),
        ({"kind": "benchmark", "benchmark": "branin"}, "benchmark, branin"),
        ({"kind": "gpt", "preset": "cpu-tiny"}, "gpt, cpu-tiny, pinned"),
    ],
)
def test_objective_labels_are_true_to_each_kind(objective: dict, label: str) -> None:
    space = {"x": {"kind": "float", "low": 0.0, "high": 1.0, "default": 0.5}}
    needs_space = objective["kind"] in ("function", "command")
    config = StudyConfig.from_dict(
        {
            "name": "s",
            "iterations": 2,
            "objective": objective,
            **({"space": space} if needs_space else {}),
        }
    )
    assert payloads.objective_text(config.public_dict()) == label
