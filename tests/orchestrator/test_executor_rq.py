"""The rq executor with a real worker: a trial whose worker dies twice is `crashed`, once."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import pytest

from orchestrator.executor import RqExecutor
from tests.orchestrator.helpers import start_worker, stop, wait_for
from tests.orchestrator.test_study_rq import cleanup_queue
from trainer.presets import PRESETS
from trainer.spec import Budget, TrialSpec

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def kill_running_trial(executor: RqExecutor, index: int, results: list) -> None:
    """Kill the work-horse and its training child, as the OOM killer would."""

    def started() -> bool:
        results.extend(executor.wait(0))
        return "pid" in executor.progress().get(index, {})

    wait_for(started, 120, "training to start")
    pid = executor.progress()[index]["pid"]
    stat = Path(f"/proc/{pid}/stat").read_text()
    horse = int(stat.rsplit(")", 1)[1].split()[1])
    for victim in (horse, pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)


def test_worker_dying_twice_records_crashed(redis_url: str, unique_name: str) -> None:
    worker = start_worker(unique_name, redis_url)
    executor = RqExecutor(redis_url, unique_name)
    try:
        spec = TrialSpec(
            trial_id=f"{unique_name}-0",
            index=0,
            preset="cpu-tiny",
            budget=Budget(mode="tokens", amount=2_000_000),  # long enough to be killed
            config=PRESETS["cpu-tiny"].space.defaults(),
        )
        executor.submit(spec)
        results: list = []
        kill_running_trial(executor, 0, results)

        def rerun_started() -> bool:
            results.extend(executor.wait(0))
            return executor.attempts(0) == 2

        wait_for(rerun_started, 60, "the re-run")
        executor._progress.pop(0, None)  # wait for attempt 2's own progress
        kill_running_trial(executor, 0, results)
        wait_for(lambda: bool(results.extend(executor.wait(0.5)) or results), 60, "a result")
        assert len(results) == 1 and results[0].status == "crashed"
        assert "worker died twice" in results[0].error
        assert executor.in_flight() == []
    finally:
        stop(worker)
        executor.close()
        cleanup_queue(redis_url, unique_name)
