"""Supervised trials: statuses, determinism, deadlines, a killed child, idempotent results."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from trainer.results import FileResultStore
from trainer.spec import Budget
from trainer.supervise import run_supervised

from .helpers import make_spec


def test_the_tokens_budget_reproduces_val_bpb_exactly() -> None:
    first = run_supervised(make_spec("det-a"))
    second = run_supervised(make_spec("det-b"))
    other_seed = run_supervised(make_spec("det-c", seed=1))
    assert first.status == second.status == other_seed.status == "ok"
    assert first.val_bpb == second.val_bpb
    assert first.steps == second.steps == 8 and first.tokens == 16_384
    assert (
        other_seed.val_bpb != first.val_bpb
    )  # the seed matters, so equality above means something


def test_a_diverging_learning_rate_ends_as_diverged_within_a_few_steps() -> None:
    started = time.monotonic()
    spec = make_spec(
        "div", changes={"UNEMBEDDING_LR": 10.0}, budget=Budget(mode="seconds", amount=60)
    )
    result = run_supervised(spec)
    assert result.status == "diverged"
    assert result.val_bpb is None
    assert result.steps <= 10
    assert "worse than guessing" in result.error
    assert time.monotonic() - started < 30  # far less than the 60 s budget


def test_an_invalid_combination_is_reported_without_starting_a_process() -> None:
    spec = make_spec("bad", changes={"TOTAL_BATCH_SIZE": 1024})
    progress: list[dict[str, Any]] = []
    result = run_supervised(spec, progress.append)
    assert result.status == "invalid"
    assert (
        "TOTAL_BATCH_SIZE=1024" in result.error
        and "DEVICE_BATCH_SIZE*seq_len=16*128" in result.error
    )
    assert progress == []


def test_a_hung_trial_ends_as_timeout_at_the_supervisor_deadline() -> None:
    started = time.monotonic()
    spec = make_spec("slow", budget=Budget(mode="seconds", amount=120))
    result = run_supervised(spec, deadline_s=3)
    assert result.status == "timeout"
    assert "deadline of 3 s" in result.error
    assert time.monotonic() - started < 20


def test_a_killed_training_child_is_crashed_and_the_caller_survives() -> None:
    killed: list[int] = []

    def kill_once_training(info: dict[str, Any]) -> None:
        if info["phase"] == "training" and info.get("step", 0) >= 1 and not killed:
            os.kill(info["pid"], signal.SIGKILL)
            killed.append(info["pid"])

    spec = make_spec("kill", budget=Budget(mode="seconds", amount=60))
    result = run_supervised(spec, kill_once_training)
    assert killed and killed[0] != os.getpid()
    assert result.status == "crashed"
    assert "SIGKILL" in result.error


def test_the_supervisor_and_the_rq_job_never_import_torch() -> None:
    # CUDA must never be initialised in the rq parent: check in a fresh interpreter.
    probe = "import sys, trainer, trainer.jobs, orchestrator.commands.worker; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_progress_reports_steps_loss_and_budget_fraction() -> None:
    progress: list[dict[str, Any]] = []
    result = run_supervised(
        make_spec("progress", budget=Budget(mode="seconds", amount=1.5)), progress.append
    )
    assert result.status == "ok"
    phases = [p["phase"] for p in progress]
    assert phases[0] == "data" and phases[-1] == "eval"
    training = [p for p in progress if "loss" in p]
    assert training and all(0 < p["progress"] <= 1 for p in training)
    assert all(p["step"] >= 1 and p["elapsed_s"] > 0 for p in training)


def test_a_retried_trial_returns_the_stored_result_without_training(tmp_path: Path) -> None:
    store = FileResultStore(tmp_path / "results")
    spec = make_spec("retry/1", budget=Budget(mode="tokens", amount=4096))
    first = run_supervised(spec, store=store)
    progress: list[dict[str, Any]] = []
    again = run_supervised(spec, progress.append, store=store)
    assert first.status == "ok"
    assert again == first
    assert progress == []  # no child was started
    assert [p.name for p in (tmp_path / "results").iterdir()] == ["retry%2F1.json"]


def test_the_file_store_keeps_the_first_result_of_a_trial(tmp_path: Path) -> None:
    from trainer.spec import TrialResult

    store = FileResultStore(tmp_path)
    spec = make_spec("first-wins")
    first = TrialResult.failed(spec, "crashed", "first")
    second = TrialResult.failed(spec, "timeout", "second")
    assert store.put_first(first) == first
    assert store.put_first(second) == first
    assert store.get("first-wins") == first
    assert store.get("never-ran") is None
