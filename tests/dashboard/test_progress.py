"""Live progress of trials in flight: written by the study loop, read by the dashboard."""

from __future__ import annotations

import json
import time
from pathlib import Path

from orchestrator.dashboard.progress import PROGRESS_FILENAME, ProgressFile, read_progress


def test_progress_round_trips_and_goes_stale(tmp_path: Path) -> None:
    writer = ProgressFile(tmp_path)
    writer.write({3: {"step": 12, "loss": 2.5, "budget_frac": 0.4, "elapsed": 3.0, "pid": 99}})
    assert read_progress(tmp_path) == {
        3: {"step": 12.0, "loss": 2.5, "budget_frac": 0.4, "elapsed": 3.0}
    }
    assert read_progress(tmp_path, now=time.time() + 3600) == {}  # a study that stopped


def test_the_trainers_field_names_are_understood(tmp_path: Path) -> None:
    ProgressFile(tmp_path).write(
        {1: {"phase": "train", "step": 3, "progress": 0.25, "elapsed_s": 2.0}}
    )
    assert read_progress(tmp_path)[1] == {
        "step": 3.0,
        "loss": None,
        "budget_frac": 0.25,
        "elapsed": 2.0,
    }


def test_damaged_or_odd_progress_files_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / PROGRESS_FILENAME
    for text in ("{", "[]", json.dumps({"updated": "x", "trials": {}})):
        path.write_text(text)
        assert read_progress(tmp_path) == {}
    path.write_text(json.dumps({"updated": time.time(), "trials": {"x": {}, "2": {"loss": "NaN"}}}))
    assert read_progress(tmp_path) == {
        2: {"step": None, "loss": None, "budget_frac": None, "elapsed": None}
    }
