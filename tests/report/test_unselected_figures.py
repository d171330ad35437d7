"""Reports put the re-run and test figures beside the selection figure; the ablation's Δ
uses the re-runs (the search's best draw is biased towards luck)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.report.ablation import _test_delta
from orchestrator.report.data import load_run
from orchestrator.report.study import build_document
from tests.report.journals import write_study_journal


def test_delta_comes_from_the_reruns_and_the_report_shows_all_three(tmp_path: Path) -> None:
    run_dir = tmp_path / "C-r0"
    path = write_study_journal(run_dir, trials=8)
    lines = path.read_text().splitlines()
    finished = json.loads(lines[-1])
    assert finished["type"] == "study_finished"
    finished.update(
        final_reruns=[3.10, 3.12],
        baseline_reruns=[3.20, 3.18],
        rerun_improvement=0.08,
        test_best=3.15,
        test_baseline=3.21,
        test_improvement=0.06,
    )
    path.write_text("\n".join([*lines[:-1], json.dumps(finished)]) + "\n")
    run = load_run(run_dir)
    assert run.rerun_delta == pytest.approx(3.11 - 3.19)
    assert run.delta == run.rerun_delta != run.selection_delta
    assert _test_delta(run) == pytest.approx(3.15 - 3.21)
    text = build_document(run).to_markdown()
    assert "baseline re-run on the same seeds" in text
    assert "improvement on fresh seeds" in text and "held-out test split" in text
