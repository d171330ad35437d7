"""`benchmarks/pruning.py --quick` end to end (real studies, real training), as a smoke test:
it prints its table and ratios, and `--from` re-reads the same runs into the same figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_run_prints_its_figures(tmp_path: Path) -> None:
    script = str(REPO / "benchmarks" / "pruning.py")
    run = subprocess.run(
        [sys.executable, script, "--quick", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=900, cwd=REPO,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    for words in ("| seed | best off | best on |", "CPU-seconds ratio (on/off", "pruned: "):
        assert words in run.stdout, run.stdout
    again = subprocess.run(
        [sys.executable, script, "--from", str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr[-2000:]
    table = [line for line in run.stdout.splitlines() if line.startswith("| 0 |")]
    assert table and table == [
        line for line in again.stdout.splitlines() if line.startswith("| 0 |")
    ]
