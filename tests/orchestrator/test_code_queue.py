"""Code trials go to a queue of their own when the deployment names one (the compose
stack's opt-in code-trainer), with a job-id prefix of their own; every other trial goes to
the trial queue. With no live worker on that queue a code trial is refused at once, with the
fix in its error, never left waiting. Real Redis; a real rq worker registration."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from contract.jobs import CODE_TRIAL_JOB_ID_PREFIX, TRIAL_JOB_ID_PREFIX
from orchestrator.agent.recipe_edits import RECIPE_EDITS
from orchestrator.executor import RqExecutor, job_id_for
from tests.orchestrator.test_study_rq import cleanup_queue
from trainer.presets import PRESETS
from trainer.spec import Budget, TrialSpec

pytestmark = [pytest.mark.redis]


def _spec(name: str, index: int, patch: str | None = None) -> TrialSpec:
    return TrialSpec(
        trial_id=f"{name}-{index}",
        index=index,
        preset="cpu-tiny",
        budget=Budget(mode="tokens", amount=4096),
        config=PRESETS["cpu-tiny"].space.defaults(),
        patch=patch,
    )


@pytest.fixture
def queues(redis_url: str, unique_name: str) -> Iterator[tuple[str, str]]:
    plain, code = f"{unique_name}-trials", f"{unique_name}-code"
    yield plain, code
    cleanup_queue(redis_url, plain)
    cleanup_queue(redis_url, code)


def _job_ids(redis_url: str, queue: str) -> list[str]:
    import redis
    from rq import Queue

    return Queue(queue, connection=redis.Redis.from_url(redis_url)).job_ids


def test_a_code_trial_goes_to_the_code_queue_and_the_rest_to_the_trial_queue(
    redis_url: str, queues: tuple[str, str]
) -> None:
    import redis
    from rq import Worker

    plain, code = queues
    # A code trainer registered on the code queue (as `bilevel worker --queue` registers).
    worker = Worker([code], connection=redis.Redis.from_url(redis_url), name=f"{code}-w")
    worker.register_birth()
    executor = RqExecutor(redis_url, plain, code)
    try:
        hyper, edit = _spec(plain, 0), _spec(plain, 1, RECIPE_EDITS[0].diff)
        executor.submit(hyper)
        executor.submit(edit)
        assert _job_ids(redis_url, plain) == [job_id_for(hyper, 1)]
        assert _job_ids(redis_url, code) == [job_id_for(edit, 1)]
        assert job_id_for(hyper, 1).startswith(TRIAL_JOB_ID_PREFIX)
        # The plain trainers' ACL pattern (trial-*) does not cover a code trial's job.
        assert job_id_for(edit, 1).startswith(CODE_TRIAL_JOB_ID_PREFIX)
        assert not job_id_for(edit, 1).startswith(TRIAL_JOB_ID_PREFIX)
        assert executor.in_flight() == [0, 1] and executor.wait(0) == []
    finally:
        executor.close()
        worker.register_death()


def test_a_code_trial_with_no_code_worker_is_refused_with_the_fix(
    redis_url: str, queues: tuple[str, str]
) -> None:
    plain, code = queues
    executor = RqExecutor(redis_url, plain, code)
    try:
        executor.submit(_spec(plain, 0, RECIPE_EDITS[0].diff))
        executor.submit(_spec(plain, 1))
        assert executor.in_flight() == [0, 1]  # the refusal is still to be collected
        (refused,) = executor.wait(1.0)
        assert refused.spec.index == 0 and refused.status == "invalid"
        assert refused.error is not None and "\n" not in refused.error
        assert f"no code-trial worker serves queue {code!r}" in refused.error
        assert "CODE_TRIALS=1 make up" in refused.error
        assert _job_ids(redis_url, code) == []
        assert executor.in_flight() == [1]  # the hyperparameter trial waits for its worker
    finally:
        executor.close()


def test_without_a_code_queue_code_trials_share_the_trial_queue(
    redis_url: str, queues: tuple[str, str]
) -> None:
    plain, _ = queues
    executor = RqExecutor(redis_url, plain)  # a host `bilevel worker` with bubblewrap
    try:
        edit = _spec(plain, 0, RECIPE_EDITS[0].diff)
        executor.submit(edit)
        assert _job_ids(redis_url, plain) == [job_id_for(edit, 1)]
    finally:
        executor.close()


def test_a_code_trial_whose_worker_left_is_said_even_with_trainers_alive(
    redis_url: str, queues: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    import redis
    from rq import Worker

    from orchestrator import worker_watch

    monkeypatch.setattr(worker_watch, "NO_WORKER_NOTICE_S", 1.0)
    plain, code = queues
    connection = redis.Redis.from_url(redis_url)
    trainer = Worker([plain], connection=connection, name=f"{plain}-w")
    code_trainer = Worker([code], connection=connection, name=f"{code}-w")
    trainer.register_birth()
    code_trainer.register_birth()
    executor = RqExecutor(redis_url, plain, code)
    try:
        executor.submit(_spec(plain, 0, RECIPE_EDITS[0].diff))  # enqueued: a worker serves it
        assert _job_ids(redis_url, code) != []
        code_trainer.register_death()  # the code-trainer went away; the trainer did not
        lines: list[str] = []
        deadline = time.monotonic() + 3.5
        while time.monotonic() < deadline:
            executor.wait(0.2)
            executor.live_workers()
            if line := executor.notice():
                lines.append(line)
        assert lines, "a code trial waits silently"
        assert f"no live trainer worker on queue {code!r}" in lines[-1]
        assert "CODE_TRIALS=1 make up" in lines[-1]
    finally:
        executor.close()
        trainer.register_death()
