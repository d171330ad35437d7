"""A real `bilevel worker` on the real Redis: jobs, progress, a killed child, retries."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from trainer.jobs import enqueue_trial
from trainer.results import REDIS_KEY_PREFIX
from trainer.spec import Budget

from .helpers import make_spec

# One rq worker serves the whole module (its fixture): its tests share one xdist worker,
# so the worker process starts once.
pytestmark = [pytest.mark.redis, pytest.mark.xdist_group("trainer-worker")]

# Bound on waiting for one job: a small trial takes seconds; a loaded box can be slow.
JOB_WAIT_S = 120
WORKER_STOP_WAIT_S = 30


class WorkerHarness:
    def __init__(self, redis_url: str, queue_name: str, proc: subprocess.Popen[bytes]) -> None:
        import redis
        from rq import Queue
        from rq.serializers import JSONSerializer

        self.connection = redis.Redis.from_url(redis_url)
        self.queue = Queue(queue_name, connection=self.connection, serializer=JSONSerializer)
        self.proc = proc
        self.jobs: list[Any] = []
        self.trial_ids: set[str] = set()

    def submit(self, spec: Any) -> Any:
        job = enqueue_trial(self.queue, spec)
        self.jobs.append(job)
        self.trial_ids.add(spec.trial_id)
        return job

    def wait(self, job: Any, timeout: float = JOB_WAIT_S) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = job.get_status(refresh=True)
            if status == "finished":
                return job.return_value(refresh=True)
            if status == "failed":
                pytest.fail(f"job failed in rq: {job.latest_result().exc_string}")
            assert self.proc.poll() is None, "the worker process died"
            time.sleep(0.2)
        pytest.fail(f"job {job.id} did not finish in {timeout} s")

    def cleanup(self) -> None:
        for job in self.jobs:
            job.delete()
        for trial_id in self.trial_ids:
            self.connection.delete(f"{REDIS_KEY_PREFIX}{trial_id}")
        self.queue.delete(delete_jobs=True)


@pytest.fixture(scope="module")
def worker(redis_url: str, bilevel_cli: list[str]) -> Iterator[WorkerHarness]:
    import uuid

    queue_name = f"t-trainer-{uuid.uuid4().hex[:10]}"
    proc = subprocess.Popen(
        [*bilevel_cli, "worker", "--queue", queue_name, "--redis-url", redis_url]
    )
    harness = WorkerHarness(redis_url, queue_name, proc)
    try:
        yield harness
    finally:
        proc.send_signal(signal.SIGTERM)  # rq's warm shutdown: finish the current job, exit
        try:
            proc.wait(timeout=WORKER_STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        harness.cleanup()


def test_a_trial_runs_on_the_worker_and_reports_progress(
    worker: WorkerHarness, unique_name: str
) -> None:
    job = worker.submit(make_spec(unique_name, budget=Budget(mode="seconds", amount=2)))
    result = worker.wait(job)
    assert result["status"] == "ok"
    assert 0.5 < result["val_bpb"] < 8.0
    assert result["spec"]["trial_id"] == unique_name
    progress = job.get_meta(refresh=True)["progress"]
    assert progress["phase"] == "eval" and progress["step"] == result["steps"]


def test_a_killed_child_is_crashed_and_the_worker_serves_the_next_job(
    worker: WorkerHarness, unique_name: str
) -> None:
    job = worker.submit(make_spec(f"{unique_name}-kill", budget=Budget(mode="seconds", amount=60)))
    deadline = time.monotonic() + JOB_WAIT_S
    while True:
        progress = job.get_meta(refresh=True).get("progress", {})
        if progress.get("phase") == "training" and progress.get("step", 0) >= 1:
            break
        assert time.monotonic() < deadline, "the trial never started training"
        time.sleep(0.1)
    os.kill(progress["pid"], signal.SIGKILL)
    killed = worker.wait(job)
    assert killed["status"] == "crashed" and "SIGKILL" in killed["error"]
    assert worker.proc.poll() is None

    follow_up = worker.wait(worker.submit(make_spec(f"{unique_name}-next")))
    assert follow_up["status"] == "ok"


def test_a_retried_job_returns_the_stored_result(worker: WorkerHarness, unique_name: str) -> None:
    spec = make_spec(unique_name, budget=Budget(mode="tokens", amount=4096))
    first = worker.wait(worker.submit(spec))
    retry = worker.submit(spec)
    started = time.monotonic()
    second = worker.wait(retry)
    assert first["status"] == "ok"
    assert second == first
    assert "progress" not in retry.get_meta(refresh=True)  # it never trained
    assert time.monotonic() - started < 10
    stored = worker.connection.get(f"{REDIS_KEY_PREFIX}{unique_name}")
    assert stored is not None and b'"status":"ok"' in stored


def test_worker_without_redis_is_one_line_and_exit_2(bilevel_cli: list[str]) -> None:
    proc = subprocess.run(
        [*bilevel_cli, "worker", "--redis-url", "redis://:secret@127.0.0.1:1/0", "--burst"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "error: cannot reach Redis at redis://:***@127.0.0.1:1/0"
    )
    assert "secret" not in proc.stderr
