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
