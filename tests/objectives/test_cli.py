"""Each objective kind through the real `bilevel` CLI, inline: studies, checks, bad input."""

from __future__ import annotations

import json
import re
import subprocess
import textwrap
from pathlib import Path

import pytest

from orchestrator.journal import read_events
from tests.orchestrator.helpers import CLI as BILEVEL
from tests.orchestrator.helpers import REPO, run_cli

SPACE_TOML = """
[space.x]
kind = "float"
low = 0.0
high = 1.0
default = 0.9

[space.width]
kind = "pow2"
low = 2
high = 64
default = 8
"""

USER_CODE = """
import os, sys

def score(config, budget):
    return {"acc": 1 - (config["x"] - 0.3) ** 2 - 0.01 * abs(config["width"] - 16), "n": 1.0}

if __name__ == "__main__":
    x, width = float(os.environ["BILEVEL_PARAM_X"]), int(os.environ["BILEVEL_PARAM_WIDTH"])
    if width > 32:
        print("width too large for this toy", file=sys.stderr)
        sys.exit(1)
    print(f"step 1 loss {x}")
    print(f"val_loss: {(x - 0.3) ** 2 + 0.01 * abs(width - 16)}")
"""


def write(tmp_path: Path, objective: str, *, iterations: int = 6, extra: str = "") -> Path:
    (tmp_path / "userobj.py").write_text(textwrap.dedent(USER_CODE))
    study = tmp_path / "study.toml"
    study.write_text(
        f'name = "obj"\niterations = {iterations}\n[objective]\n{objective}\n'
        f"{SPACE_TOML}\n[levels]\npolicy = true\npolicy_every = 3\n{extra}"
    )
    return study


def study(study_file: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return run_cli([*BILEVEL, "study", str(study_file), "--out", str(out), "--plain"])


def finished(out: Path) -> list[dict]:
    return [e for e in read_events(out / "events.jsonl") if e["type"] == "trial_finished"]


def test_a_function_objective_maximised_through_the_cli(tmp_path: Path) -> None:
    file = write(tmp_path, 'kind = "function"\ntarget = "userobj:score"\nmetric = "acc"\n'
                 'direction = "maximize"')  # fmt: skip
    check = run_cli([*BILEVEL, "objective", "check", str(file)])
    assert check.returncode == 0, check.stderr
    assert "metric:         acc (maximize)" in check.stdout and "status:         ok" in check.stdout
    assert "extra.n:" in check.stdout

    done = study(file, tmp_path / "run")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "metric: acc (maximize)" in done.stdout and "best_acc:" in done.stdout
    trials = finished(tmp_path / "run")
    kept = [e["result"]["value"] for e in trials if e["kept"]]
    assert len(trials) == 6 and kept == sorted(kept) and len(kept) >= 2  # higher is better
    assert all("best_val_bpb" not in e for e in trials)
    summary = [
        e for e in read_events(tmp_path / "run" / "events.jsonl") if e["type"] == "study_finished"
    ]
    assert summary[0]["improvement"] > 0 and summary[0]["direction"] == "maximize"
    report = (tmp_path / "run" / "report.md").read_text()
    assert "acc (maximize)" in report and "best acc" in report


def test_a_command_objective_with_failing_trials_finishes_the_study(tmp_path: Path) -> None:
    file = write(
        tmp_path,
        'kind = "command"\ncommand = ["python", "userobj.py"]\nmetric = "val_loss"',
        iterations=8,
        extra='[llm]\nprovider = "builtin"\n',
    )
    done = study(file, tmp_path / "run")
    assert done.returncode == 0, done.stderr[-2000:]
    trials = finished(tmp_path / "run")
    crashed = [e["result"] for e in trials if e["result"]["status"] == "crashed"]
    ok = [e["result"] for e in trials if e["result"]["status"] == "ok"]
    assert len(trials) == 8 and ok and "best_val_loss:" in done.stdout
    for result in crashed:  # the built-in agent doubles width past 32 at some point
        assert "exited with code 1" in result["error"] and "width too large" in result["error"]
    kept = [e["result"]["value"] for e in trials if e["kept"]]
    assert kept == sorted(kept, reverse=True)  # lower is better


def test_a_benchmark_study_then_status_and_report(tmp_path: Path) -> None:
    file = tmp_path / "bench.toml"
    file.write_text('name = "b"\niterations = 8\n[objective]\nkind = "benchmark"\n'
                    'benchmark = "rosenbrock"\ndim = 3\n')  # fmt: skip
    done = study(file, tmp_path / "run")
    assert done.returncode == 0, done.stderr[-2000:]
    status = run_cli([*BILEVEL, "status", str(tmp_path / "run")])
    assert "metric: f (minimize)" in status.stdout and "baseline_f: 2.00000" in status.stdout


@pytest.mark.parametrize(
    ("objective", "space", "words"),
    [
        ('kind = "quantum"', SPACE_TOML, "objective.kind"),
        ('kind = "function"\ntarget = "nowhere_at_all:score"', SPACE_TOML, "does not import"),
        ('kind = "function"\ntarget = "userobj"', SPACE_TOML, "package.module:function"),
        ('kind = "command"\ncommand = ["no-such-tool-xyz"]\nmetric = "m"', SPACE_TOML, "not found"),
        ('kind = "command"\ncommand = ["python", "userobj.py"]', SPACE_TOML, "needs metric"),
        ('kind = "function"\ntarget = "userobj:score"', "", "needs a search space"),
        (
            'kind = "function"\ntarget = "userobj:score"',
            SPACE_TOML.replace("default = 0.9", "default = 1.5"),
            "space.x",
        ),
        ('kind = "benchmark"\nbenchmark = "everest"', "", "choose one of"),
        ('kind = "gpt"\nmetric = "acc"', "", "minimises val_bpb"),
        ('kind = "function"\ntarget = "userobj:score"\nnoise = 0.1', SPACE_TOML, "applies to kind"),
    ],
)
def test_bad_objective_input_is_one_line_and_exit_2_before_any_trial(
    tmp_path: Path, objective: str, space: str, words: str
) -> None:
    (tmp_path / "userobj.py").write_text(textwrap.dedent(USER_CODE))
    file = tmp_path / "study.toml"
    file.write_text(f'name = "bad"\niterations = 3\n[objective]\n{objective}\n{space}')
    done = study(file, tmp_path / "run")
    assert done.returncode == 2, done.stdout + done.stderr
    assert words in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "run" / "events.jsonl").exists() or not finished(tmp_path / "run")


@pytest.mark.parametrize(
    ("script", "words"),
    [("print('val_loss = soon')", "is not a number"), ("print('done')", "no 'val_loss: <number>'")],
)
def test_a_metric_line_the_study_cannot_read_stops_it_at_the_baseline(
    tmp_path: Path, script: str, words: str
) -> None:
    (tmp_path / "job.py").write_text(script)
    file = tmp_path / "study.toml"
    file.write_text('name = "m"\niterations = 3\n[objective]\nkind = "command"\n'
                    'command = ["python", "job.py"]\nmetric = "val_loss"\n' + SPACE_TOML)  # fmt: skip
    check = run_cli([*BILEVEL, "objective", "check", str(file)])
    assert check.returncode == 2 and words in check.stderr, check.stderr
    done = study(file, tmp_path / "run")
    assert done.returncode == 2 and words in done.stderr and "objective check" in done.stderr
    assert not finished(tmp_path / "run")


def test_the_examples_check_out(tmp_path: Path) -> None:
    done = run_cli([*BILEVEL, "objective", "check", str(REPO / "examples/objectives/train.toml"),
                    "--json"])  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "ok" and result["metric"] == "val_loss" and result["value"] > 0


def test_an_ablation_on_a_maximised_benchmark_reads_its_sign_right(tmp_path: Path) -> None:
    file = tmp_path / "abl.toml"
    file.write_text('name = "abl"\niterations = 6\n[objective]\nkind = "benchmark"\n'
                    'benchmark = "branin"\ndirection = "maximize"\nmetric = "neg_branin"\n')  # fmt: skip
    out = tmp_path / "abl"
    done = run_cli([*BILEVEL, "ablation", str(file), "--groups", "A,B", "--repeats", "2",
                    "--out", str(out)])  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "mean Δneg_branin" in done.stdout and "positive is better" in done.stdout
    assert "paper" not in done.stdout.lower()  # the paper's figures are GPT val_bpb only
    rows = [line for line in done.stdout.splitlines() if line[:2] in ("A ", "B ")]
    means = [float(re.search(r"\s([+-]\d+\.\d+)", row).group(1)) for row in rows]  # type: ignore[union-attr]
    assert len(means) == 2 and all(mean > 0 for mean in means)  # both groups improved
    report = (out / "report.md").read_text()
    assert "Δneg_branin by group" in report and "positive is better" in report
