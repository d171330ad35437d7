"""`bilevel ablation` end to end: real training, killed mid-way, resumed to completion."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from orchestrator.ablation import (
    GROUPS,
    check_manifest,
    group_config,
    parse_groups,
    plan_runs,
    run_state,
)
from orchestrator.config import StudyConfig
from orchestrator.errors import UserError

# Two groups x two repeats x three trials of 8k tokens: each trial is a few seconds here.
GROUPS_RUN = "A,R"
REPEATS = 2
ITERATIONS = 3
STUDY_TOML = """
name = "abl-e2e"
iterations = 3
seed = 11
executor = "inline"

[objective]
preset = "cpu-tiny"
budget_mode = "tokens"
budget = 8192

[levels]
policy_every = 2
research_every = 1
stagnation = 1

[llm]
provider = "builtin"

# The subject is the ablation's resume, not acceptance: one trial per index, no repeats,
# so the kill lands inside the second run.
[acceptance]
rule = "strict"
"""
# Kill once this many trials have finished in total: inside the second run of four.
KILL_AFTER_TRIALS = 4
KILL_DEADLINE_S = 180


def _events(run_dir: Path) -> list[dict]:
    path = run_dir / "events.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def _finished_trials(out: Path) -> int:
    return sum(1 for d in out.glob("*-r*") for e in _events(d) if e["type"] == "trial_finished")


def test_groups_map_to_levels_and_seeds_pair_repeats() -> None:
    base = StudyConfig.from_dict({"name": "s", "iterations": 2, "seed": 5})
    plans = plan_runs(base, ["A", "C", "R", "N"], 2, Path("/tmp/x"))
    assert [p.label for p in plans] == [
        "A-r0",
        "C-r0",
        "R-r0",
        "N-r0",
        "A-r1",
        "C-r1",
        "R-r1",
        "N-r1",
    ]
    assert {p.config.seed for p in plans if p.repeat == 1} == {6}
    a, c = group_config(base, "A", 0).levels, group_config(base, "C", 0).levels
    assert (a.policy, a.research, a.restart) == (False, False, False)
    assert (c.policy, c.research, c.restart) == (True, True, False)
    r = group_config(base, "R", 0).levels
    assert (r.policy, r.research, r.restart) == (True, False, True)
    assert GROUPS["N"].research and GROUPS["N"].discard


def test_bad_groups_are_one_line_errors() -> None:
    with pytest.raises(UserError, match="unknown group"):
        parse_groups("A,Q")
    with pytest.raises(UserError, match="twice"):
        parse_groups("A,a")
    assert parse_groups(" a, c ") == ["A", "C"]


@pytest.mark.slow
def test_ablation_killed_and_resumed_finishes_every_run_exactly_once(
    tmp_path: Path, bilevel_cli: list[str]
) -> None:
    study = tmp_path / "study.toml"
    study.write_text(STUDY_TOML)
    out = tmp_path / "ablation"
    argv = [
        *bilevel_cli,
        "ablation",
        str(study),
        "--groups",
        GROUPS_RUN,
        "--repeats",
        str(REPEATS),
        "--out",
        str(out),
    ]
    first = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    deadline = time.monotonic() + KILL_DEADLINE_S
    while _finished_trials(out) < KILL_AFTER_TRIALS and first.poll() is None:
        assert time.monotonic() < deadline, "the ablation made no progress"
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGKILL)  # the CLI and its trial child, mid-run
    first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL
    states = {d.name: run_state(d) for d in out.glob("*-r*")}
    assert states["A-r0"] == "finished" and states["R-r0"] == "unfinished"

    second = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "A-r0 (seed 11): finished earlier: skipped" in second.stderr
    assert "R-r0 (seed 11): resuming" in second.stderr

    for group in ("A", "R"):
        for repeat in range(REPEATS):
            events = _events(out / f"{group}-r{repeat}")
            kinds = Counter(e["type"] for e in events)
            assert kinds["study_finished"] == 1, (group, repeat)
            indices = Counter(e["index"] for e in events if e["type"] == "trial_finished")
            assert sorted(indices) == list(range(ITERATIONS)) and set(indices.values()) == {1}
            started = [e for e in events if e["type"] == "study_started"]
            assert started[0]["config"]["seed"] == 11 + repeat
    # Pairing is real: with the tokens budget, repeat k's baseline is the same run in every group.
    for repeat in range(REPEATS):
        baselines = {
            e["result"]["val_bpb"]
            for g in ("A", "R")
            for e in _events(out / f"{g}-r{repeat}")
            if e["type"] == "trial_finished" and e["index"] == 0
        }
        assert len(baselines) == 1, baselines
    resumed = [e["resumed"] for e in _events(out / "R-r0") if e["type"] == "study_started"]
    assert resumed == [False, True]
    # Group R resets the Level-1 context where Level 2 would have run; A never does.
    assert any(e["type"] == "context_reset" for e in _events(out / "R-r1"))
    assert not any(e["type"] == "context_reset" for e in _events(out / "A-r1"))

    table = second.stdout
    assert "95% CI" in table and "p vs A" in table and "-0.009" in table
    assert "(paired)" in table.splitlines()[2]  # R vs A: same seeds, paired test
    # Each run gets its own study report as it finishes; the ablation report lists them.
    assert all((out / f"{g}-r{k}" / "report.html").is_file() for g in "AR" for k in range(REPEATS))
    report = out / "report.html"
    assert report.is_file() and str(report) in table
    assert (out / "report-figures" / "ablation-curves.png").is_file()


def test_an_ablation_folder_refuses_runs_with_other_settings(tmp_path: Path) -> None:
    base = StudyConfig.from_dict({"name": "s", "iterations": 2})
    check_manifest(base, tmp_path)
    check_manifest(base, tmp_path)  # the same settings resume
    with pytest.raises(UserError, match=r"other settings \(differs in: iterations\)"):
        check_manifest(base.with_overrides(iterations=3), tmp_path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--groups", "A,Q"], "error: unknown group(s) Q in --groups"),
        (["--budget-seconds", "2", "--budget-tokens", "10"], "error: give --budget-seconds or"),
    ],
)
def test_ablation_cli_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, bilevel_cli: list[str], args: list[str], message: str
) -> None:
    study = tmp_path / "study.toml"
    study.write_text(STUDY_TOML)
    done = subprocess.run(
        [*bilevel_cli, "ablation", str(study), "--out", str(tmp_path / "o"), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.startswith(message) and done.stderr.count("\n") == 1
    assert not (tmp_path / "o").exists()  # nothing started
