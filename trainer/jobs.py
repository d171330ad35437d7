"""The rq job that runs a trial on a trainer worker (JSON in, JSON out; never pickle).

Public interface::

    run_trial(spec: dict) -> dict                  # the job function, by name "trainer.jobs.run_trial"
    enqueue_trial(queue: rq.Queue, spec: TrialSpec, ...) -> rq.job.Job   # what RqExecutor calls
    job_timeout(spec: TrialSpec) -> int            # seconds rq lets the job run

``spec`` is ``TrialSpec.model_dump(mode="json")``; the return value is
``TrialResult.model_dump(mode="json")``. The training runs in a supervised child process
(:func:`trainer.supervise.run_supervised`); this function and the rq worker never import
torch or touch CUDA. While it trains, ``job.meta["progress"]`` holds the latest progress
dict (step, loss, elapsed_s, tokens, progress, pid). The result is stored first-writer-wins
in Redis under ``bilevel:trial-result:<trial_id>``: a retried job with the same trial_id
returns the stored result without training again.

The queue must use rq's JSON serializer on both ends (:data:`contract.jobs.TRIAL_QUEUE` is the default
name; see ``bilevel worker``).
"""

from __future__ import annotations

import logging
from typing import Any

from contract.jobs import TRIAL_JOB
from trainer.results import RedisResultStore
from trainer.spec import TrialSpec
from trainer.supervise import default_deadline, run_supervised

log = logging.getLogger(__name__)

# rq kills a job past its timeout; the supervisor's own deadline must fire first so the
# trial ends as `timeout` with a stored result instead of an rq failure.
JOB_TIMEOUT_MARGIN_S = 120
# Finished and failed job records in Redis: they outlive any sane orchestrator outage, so a
# resumed study still finds them.
RESULT_TTL_S = 7 * 24 * 3600


def job_timeout(spec: TrialSpec) -> int:
    return int(default_deadline(spec) + JOB_TIMEOUT_MARGIN_S)


def run_trial(spec: dict[str, Any]) -> dict[str, Any]:
    """rq job: validate ``spec``, run it supervised, store and return the result as JSON."""
    from redis.exceptions import RedisError
    from rq import get_current_job

    trial = TrialSpec.model_validate(spec)
    job = get_current_job()
    if job is None:
        return run_supervised(trial).model_dump(mode="json")

    def publish(info: dict[str, Any]) -> None:
        job.meta["progress"] = info
        try:
            job.save_meta()
        except (RedisError, OSError) as exc:  # a Redis blip must not cost the trial
            log.warning("could not publish progress of %s: %s", trial.trial_id, exc)

    store = RedisResultStore(job.connection)
    return run_supervised(trial, publish, store=store).model_dump(mode="json")


def enqueue_trial(
    queue: Any,
    spec: TrialSpec,
    *,
    job_id: str | None = None,
    description: str | None = None,
    meta: dict[str, Any] | None = None,
) -> Any:
    """Enqueue ``spec`` on an rq ``Queue`` built with ``serializer=JSONSerializer``.

    The one way a trial becomes a job: the study's :class:`orchestrator.executor.RqExecutor`
    calls it (with its own ``job_id``, which the Redis ACL and the retry bookkeeping key on).
    A failed job is kept as long as a result, so a resumed study still reads why it failed.
    ``meta`` carries the orchestrator's signature (:mod:`contract.job_signing`).
    """
    return queue.enqueue(
        TRIAL_JOB,
        spec.model_dump(mode="json"),
        job_id=job_id,
        job_timeout=job_timeout(spec),
        result_ttl=RESULT_TTL_S,
        failure_ttl=RESULT_TTL_S,
        description=description or f"trial {spec.trial_id}",
        meta=meta or {},
    )
