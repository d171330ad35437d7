"""Each documented BILEVEL_* variable a Python command reads is honoured (.env.example and
the README's settings table name them); the compose-only ones are checked in tests/deploy."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from orchestrator.executor import RqExecutor
from orchestrator.worker_watch import NO_WORKER_NOTICE_S
from tests.orchestrator.helpers import CLI, REPO, env, events, stop
from tests.orchestrator.test_study_rq import cleanup_queue
from trainer.spec import Budget, TrialSpec

pytestmark = pytest.mark.redis

BENCHMARK_STUDY = (
    'name = "envq"\niterations = 3\nexecutor = "rq"\nparallel = 1\n'
    '[objective]\nkind = "benchmark"\nbenchmark = "branin"\n'
)


def test_bilevel_trial_queue_routes_trial_jobs(
    tmp_path: Path, redis_url: str, unique_name: str
) -> None:
    # The worker serves the queue compose names on its command line; the study names no
    # queue and no Redis URL: both come from the environment, as in the compose stack.
    variables = {**env(), "BILEVEL_TRIAL_QUEUE": unique_name, "BILEVEL_REDIS_URL": redis_url}
    worker = subprocess.Popen(
        [*CLI, "worker", "--queue", unique_name],
        env=variables,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    study = tmp_path / "s.toml"
    study.write_text(BENCHMARK_STUDY)
    out = tmp_path / "run"
    try:
        done = subprocess.run(
            [*CLI, "study", str(study), "--out", str(out), "--plain"],
            env=variables,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,  # on the default queue nobody would serve the trials: a hang
        )
    finally:
        stop(worker)
        cleanup_queue(redis_url, unique_name)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(events(out, "trial_finished")) == 3
    assert events(out, "study_started")[0]["config"]["rq"]["queue"] == unique_name
    # The worker serves that queue only: the study could finish only through it.


def test_a_trial_with_no_live_worker_says_so(redis_url: str, unique_name: str) -> None:
    executor = RqExecutor(redis_url, unique_name)
    try:
        executor.submit(
            TrialSpec(
                trial_id=f"{unique_name}-0",
                index=0,
                preset="cpu-tiny",
                budget=Budget(mode="tokens", amount=8192),
                config={},
            )
        )
        deadline = time.monotonic() + NO_WORKER_NOTICE_S + 10
        said: list[str] = []
        while time.monotonic() < deadline and not said:
            assert executor.wait(0.5) == []
            executor.useful_in_flight()  # the study asks this every turn: counts live workers
            said += [n for n in [executor.notice()] if n]
        for _ in range(4):  # said every few seconds, not on every poll
            executor.wait(0.2)
            said += [n for n in [executor.notice()] if n]
    finally:
        executor.close()
        cleanup_queue(redis_url, unique_name)
    assert len(said) == 1
    assert f"no live trainer worker on queue {unique_name!r}" in said[0]
    assert "have waited" in said[0] and f"bilevel worker --queue {unique_name}" in said[0]
