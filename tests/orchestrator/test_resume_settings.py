"""`--resume` goes on with the settings the journal recorded, refuses ones that would change
what a trial measures, and an interrupted study says how to resume it; a baseline that
cannot run stops the study before anything else runs."""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
from pathlib import Path

from tests.orchestrator.helpers import CLI, env, events, run_cli, wait_for

USER_CODE = """
import time

def score(config, budget):
    time.sleep(float(config.get("pause", 0.0)))
    return {"acc": 1 - (config["x"] - 0.3) ** 2}
"""


def write_study(tmp_path: Path, *, iterations: int = 6, pause: float = 0.0) -> Path:
    (tmp_path / "userobj.py").write_text(textwrap.dedent(USER_CODE))
    study = tmp_path / "study.toml"
    study.write_text(
        f'name = "res"\niterations = {iterations}\n'
        '[objective]\nkind = "function"\ntarget = "userobj:score"\nmetric = "acc"\n'
        'direction = "maximize"\nbudget_mode = "seconds"\nbudget = 30\n'
        '[space.x]\nkind = "float"\nlow = 0.0\nhigh = 1.0\ndefault = 0.9\n'
        f'[space.pause]\nkind = "float"\nlow = 0.0\nhigh = 5.0\ndefault = {pause}\nfrozen = true\n'
    )
    return study


def study(file: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli([*CLI, "study", str(file), "--out", str(out), "--plain", *extra])


def budgets(out: Path) -> list[float]:
    return [e["result"]["spec"]["budget"]["amount"] for e in events(out, "trial_finished")]


def test_resume_keeps_the_recorded_settings_and_refuses_a_changed_budget(tmp_path: Path) -> None:
    file = write_study(tmp_path)
    out = tmp_path / "run"
    first = study(file, out, "--iterations", "2", "--budget-seconds", "7")
    assert first.returncode == 0, first.stderr[-2000:]
    assert budgets(out) == [7, 7]

    other = study(file, out, "--resume", "--budget-seconds", "9")
    assert other.returncode == 2, other.stdout + other.stderr
    assert len(other.stderr.strip().splitlines()) == 1, other.stderr
    assert "objective.budget" in other.stderr and "--new-study" in other.stderr
    assert len(events(out, "study_started")) == 1  # nothing was appended

    more = study(file, out, "--resume", "--iterations", "3")  # no budget flag: the recorded one
    assert more.returncode == 0, more.stderr[-2000:]
    assert budgets(out) == [7, 7, 7]
    assert "differs from the settings recorded" in more.stdout  # the file says 30 s
    assert events(out, "study_started")[-1]["config"]["objective"]["budget"] == 7

    again = study(file, out, "--resume")  # nothing given: the recorded 3 iterations, done
    assert again.returncode == 0, again.stderr[-2000:]
    assert len(budgets(out)) == 3

    status = run_cli([*CLI, "status", str(out)])
    report = run_cli([*CLI, "report", str(out)])
    assert status.returncode == 0 and report.returncode == 0, status.stderr + report.stderr
    assert "state: finished" in status.stdout
    assert "not finished" not in (out / "report.md").read_text()


def test_new_study_starts_a_fresh_run_dir_with_the_new_settings(tmp_path: Path) -> None:
    file = write_study(tmp_path, iterations=2)
    root = tmp_path / "work"
    root.mkdir()
    args = [*CLI, "study", str(file), "--plain"]
    first = subprocess.run(args, capture_output=True, text=True, env=env(), cwd=root, timeout=240)
    assert first.returncode == 0, first.stderr[-2000:]
    second = subprocess.run(
        [*args, "--resume", "--new-study", "--budget-seconds", "9"],
        capture_output=True,
        text=True,
        env=env(),
        cwd=root,
        timeout=240,
    )
    assert second.returncode == 0, second.stderr[-2000:]
    assert budgets(root / "runs" / "res") == [30, 30]
    assert budgets(root / "runs" / "res-2") == [9, 9]
    # `status` given the study file finds its newest run dir
    status = subprocess.run(
        [*CLI, "status", str(file)], capture_output=True, text=True, env=env(), cwd=root
    )
    assert status.returncode == 0, status.stderr
    assert "run dir: runs/res-2" in status.stdout and "state: finished" in status.stdout
    assert "pruned:" not in status.stdout  # a function objective cannot be pruned


def test_an_interrupted_study_says_what_was_saved_and_how_to_resume(tmp_path: Path) -> None:
    file = write_study(tmp_path, iterations=8, pause=2.0)
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [*CLI, "study", str(file), "--out", str(out), "--plain"],
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: len(events(out, "trial_finished")) >= 1, 120, "one finished trial")
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    saved = len(events(out, "trial_finished"))
    assert f"{saved} finished trials saved in {out / 'events.jsonl'}" in lines[0]
    assert f"resume with: bilevel study {file} --resume --out {out}" in lines[0]


def test_a_misspelled_command_script_is_refused_before_any_trial(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("print('val_loss: 1.0')\n")
    file = tmp_path / "study.toml"
    file.write_text(
        'name = "typo"\niterations = 4\n[objective]\nkind = "command"\n'
        'command = ["python", "trian.py"]\nmetric = "val_loss"\n'
        '[space.x]\nkind = "float"\nlow = 0.0\nhigh = 1.0\ndefault = 0.5\n'
    )
    out = tmp_path / "run"
    done = study(file, out)
    assert done.returncode == 2, done.stdout + done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "'trian.py' does not exist" in done.stderr
    assert not events(out, "trial_proposed")


def test_a_baseline_that_crashes_stops_the_study_with_its_cause(tmp_path: Path) -> None:
    # Through rq workers the script is looked for where the worker runs, so the orchestrator
    # cannot refuse it up front: the baseline's crash stops the study instead (shown inline
    # with a script that exists but fails).
    (tmp_path / "train.py").write_text("import sys\nsys.exit('no data file here: data.bin')\n")
    file = tmp_path / "study.toml"
    file.write_text(
        'name = "broken"\niterations = 6\n[objective]\nkind = "command"\n'
        'command = ["python", "train.py"]\nmetric = "val_loss"\n'
        '[space.x]\nkind = "float"\nlow = 0.0\nhigh = 1.0\ndefault = 0.5\n'
    )
    out = tmp_path / "run"
    done = study(file, out)
    assert done.returncode == 2, done.stdout + done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "baseline" in done.stderr and "no data file here: data.bin" in done.stderr
    assert [e["source"] for e in events(out, "trial_proposed")] == ["baseline"]
    assert not events(out, "study_finished")


def test_the_live_view_shows_the_cause_not_a_cut_path() -> None:
    from orchestrator.commands.study import LiveView
    from orchestrator.events import TrialFinished

    error = (
        "the command exited with code 2\n"
        "/work/main/.venv/bin/python3: can't open file '/home/me/project/trian.py': "
        "[Errno 2] No such file or directory"
    )
    view = LiveView("s", "builtin")
    view("event", TrialFinished(index=0, result={"status": "crashed", "error": error}))
    line = view.events[-1]
    assert "python3: can't open file 'trian.py': [Errno 2] No such file or directory" in line
    assert line.startswith("#0 crashed the command exited with code 2")


def test_status_and_report_agree_on_a_resumed_study_that_was_stopped(tmp_path: Path) -> None:
    from orchestrator.events import StudyFinished, StudyStarted
    from orchestrator.journal import Journal
    from orchestrator.report.data import load_run
    from orchestrator.summary import summary_from_journal

    config = {
        "name": "s",
        "iterations": 2,
        "objective": {"kind": "benchmark", "benchmark": "branin"},
    }
    with Journal(tmp_path / "events.jsonl") as journal:
        journal.append(StudyStarted(study="s", config=config))
        journal.append(StudyFinished(best=None))
        journal.append(StudyStarted(study="s", config=config, resumed=True))  # then killed
    assert summary_from_journal(tmp_path).finished is False
    assert load_run(tmp_path).finished is False
