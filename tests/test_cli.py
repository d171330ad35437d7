"""The CLI root: every bad invocation is one line on stderr and exit code 2."""

from __future__ import annotations

import subprocess

import pytest


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["trial", "--budget-seconds", "abc"], "Invalid value for '--budget-seconds'"),
        (["trial", "--no-such-flag"], "No such option: --no-such-flag"),
        (["no-such-command"], "No such command 'no-such-command'"),
        (["status"], "Missing argument"),
        (
            ["study", "studies/quickstart.toml", "--llm", "gpt"],
            "--llm gpt: choose builtin or openai",
        ),
        (["ablation", "studies/quickstart.toml", "--executor", "k8s"], "--executor k8s: choose"),
        (
            ["study", "studies/quickstart.toml", "--budget-seconds", "1", "--budget-tokens", "9"],
            "not both",
        ),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    bilevel_cli: list[str], argv: list[str], expected: str
) -> None:
    proc = subprocess.run([*bilevel_cli, *argv], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and expected in lines[0]
    assert "Traceback" not in proc.stderr


def test_version_and_help_exit_0(bilevel_cli: list[str]) -> None:
    assert subprocess.run([*bilevel_cli, "version"], capture_output=True).returncode == 0
    help_run = subprocess.run([*bilevel_cli, "--help"], capture_output=True, text=True)
    assert help_run.returncode == 0
    for command in ("study", "trial", "worker", "mechanism", "report", "ablation", "status"):
        assert command in help_run.stdout


def test_a_missing_sandbox_lock_is_one_line_before_any_trial(
    bilevel_cli: list[str], tmp_path
) -> None:
    import os

    env = {**os.environ, "BILEVEL_SANDBOX_LOCK": str(tmp_path / "missing.lock")}
    for argv in (
        ["mechanism", "check", "examples/mechanisms/trust_region.py", "--backend", "process"],
        ["study", "studies/quickstart.toml", "--out", str(tmp_path / "run")],
    ):
        proc = subprocess.run(
            [*bilevel_cli, *argv], capture_output=True, text=True, env=env, timeout=120
        )
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip().splitlines()[-1].startswith("error: ")
        assert "sandbox lock" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "run" / "events.jsonl").exists()
