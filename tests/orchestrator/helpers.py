"""Helpers for end-to-end study tests: run the real CLI, read journals, start workers."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from orchestrator.journal import read_events

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "orchestrator.cli"]
# Tiny trials: one optimizer step of cpu-tiny, about 5 s each with start-up and eval.
TRIAL_TOKENS = "8192"


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def study_args(out: Path, *extra: str, study: str = "studies/quickstart.toml") -> list[str]:
    return [*CLI, "study", str(REPO / study), "--out", str(out), "--plain",
            "--budget-tokens", TRIAL_TOKENS, *extra]  # fmt: skip


def run_cli(args: list[str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, env=env(), cwd=REPO
    )


def events(run_dir: Path, kind: str) -> list[dict[str, Any]]:
    path = run_dir / "events.jsonl"
    return [e for e in read_events(path) if e["type"] == kind] if path.exists() else []


def finished_indices(run_dir: Path) -> list[int]:
    return sorted(e["index"] for e in events(run_dir, "trial_finished"))


def assert_each_index_once(run_dir: Path, count: int) -> None:
    finished = Counter(e["index"] for e in events(run_dir, "trial_finished"))
    proposed = Counter(e["index"] for e in events(run_dir, "trial_proposed"))
    assert sorted(finished) == list(range(count)), finished
    assert set(finished.values()) == {1}, f"duplicated: {finished}"
    assert set(proposed.values()) == {1}, f"proposed twice: {proposed}"


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def start_worker(queue: str, redis_url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*CLI, "worker", "--queue", queue, "--redis-url", redis_url],
        env=env(), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip


def stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def write_study(path: Path, body: str) -> Path:
    path.write_text(body)
    return path
