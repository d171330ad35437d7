"""Help texts and summary lines say only what is true."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from orchestrator.summary import StudySummary

REPO = Path(__file__).resolve().parents[1]


def test_data_prepare_help_lists_every_data_set() -> None:
    from trainer.datasets import DATASET_NAMES

    done = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "data", "prepare", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    for name in DATASET_NAMES:
        assert name in done.stdout, name


def test_no_pruned_line_where_nothing_could_be_pruned() -> None:
    common = {"study": "s", "run_dir": "r", "journal": "r/events.jsonl", "agent": "builtin"}
    common |= {"finished": True, "best": None, "baseline_value": None, "improvement": None}
    common |= {"metric": "acc", "direction": "maximize", "trials_by_status": {"ok": 3}}
    common |= {"llm_cost_usd": 0.0, "noise_floor": None, "final_reruns": []}
    assert not any(
        line.startswith("pruned:") for line in StudySummary(**common, pruning=False).lines()
    )
    assert "pruned: 0 (saved 0.0 s)" in StudySummary(**common, pruning=True).lines()
