"""A study never waits silently: with no live trainer worker it says so, with how long it
has waited, and a worker killed outright (its host lost) is noticed in well under a minute,
its trial re-run. Real Redis, real `bilevel worker`, real training."""

from __future__ import annotations

import time

import pytest

from orchestrator import worker_watch
from orchestrator.executor import RqExecutor
from tests.orchestrator.helpers import start_worker, stop, wait_for
from tests.orchestrator.test_study_rq import cleanup_queue
from trainer.presets import PRESETS
from trainer.spec import Budget, TrialSpec

pytestmark = [pytest.mark.redis]

# "Well under a minute": the bar for noticing an abandoned trial.
ABANDONED_WITHIN_S = 45.0


def _spec(name: str, tokens: int) -> TrialSpec:
    return TrialSpec(
        trial_id=f"{name}-0",
        index=0,
        preset="cpu-tiny",
        budget=Budget(mode="tokens", amount=tokens),
        config=PRESETS["cpu-tiny"].space.defaults(),
    )


def _notices(executor: RqExecutor, seconds: float) -> list[str]:
    out: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        executor.wait(0.2)
        if line := executor.notice():
            out.append(line)
    return out


def test_no_worker_is_said_with_how_long(
    redis_url: str, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_watch, "NO_WORKER_NOTICE_S", 1.0)
    executor = RqExecutor(redis_url, unique_name)
    try:
        executor.submit(_spec(unique_name, 4096))
        lines = _notices(executor, 3.5)
        assert len(lines) >= 2, lines  # again and again, not once
        assert "no live trainer worker" in lines[-1] and unique_name in lines[-1]
        assert "1 trial(s) have waited" in lines[-1] and "bilevel worker" in lines[-1]
        waited = [int(line.split("waited ")[1].split(" s")[0]) for line in lines]
        assert waited == sorted(waited) and waited[-1] >= 2
    finally:
        executor.close()
        cleanup_queue(redis_url, unique_name)


@pytest.mark.slow
def test_a_killed_worker_is_noticed_in_seconds_and_its_trial_rerun(
    redis_url: str, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_watch, "NO_WORKER_NOTICE_S", 2.0)
    worker = start_worker(unique_name, redis_url)
    executor = RqExecutor(redis_url, unique_name)
    try:
        executor.submit(_spec(unique_name, 2_000_000))  # long enough to be killed
        wait_for(lambda: not executor.wait(0.2) and "pid" in executor.progress().get(0, {}),
                 120, "training to start")  # fmt: skip
        assert executor.live_workers() == 1 and executor.notice() is None
        stop(worker)  # the whole worker, its work horse and the training: a lost host
        killed = time.monotonic()
        wait_for(lambda: not executor.wait(0.2) and executor.attempts(0) == 2,
                 ABANDONED_WITHIN_S + 15, "the re-run")  # fmt: skip
        noticed_s = time.monotonic() - killed
        print(f"abandoned trial re-run {noticed_s:.1f} s after the kill")
        assert noticed_s < ABANDONED_WITHIN_S
        lines = _notices(executor, 5.0)  # the re-run waits, and the study says why
        assert lines and "no live trainer worker" in lines[-1]
    finally:
        stop(worker)
        executor.close()
        cleanup_queue(redis_url, unique_name)
