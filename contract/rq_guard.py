"""rq takes only its own jobs (DESIGN §2).

An rq worker imports and calls whatever dotted path a job names, runs the success/failure/
stopped callbacks the job names, and sends its webhooks. Anyone who can write to Redis could
therefore run code in a worker: in the sandbox runner, which holds the Docker socket, that
is the host. :func:`guarded_worker` builds a worker class that checks every job *before*
anything of it runs (before the fork, before the import): its function must be one of the
worker's own, called on no instance, with no callbacks, dependencies, webhooks or retries
from the payload. A refused job is marked failed with the reason and nothing else happens.

It lives in the leaf package because both services use it: the trainer worker (``bilevel
worker``) and the sandbox runner, which must not import the orchestrator. Standard library
only: it reads what rq stored and subclasses the worker class it is given.

The per-role Redis credentials of the compose stack (deploy/redis-entrypoint.sh) are the
other half: a trainer's credentials cannot even enqueue sandbox work. And a worker given a
job key checks each job's signature (:mod:`contract.job_signing`) before anything else:
a job rewritten in Redis, or enqueued by anyone without the key, is refused the same way.
"""

from __future__ import annotations

import logging
from typing import Any

# The one job of a trainer worker (trainer/jobs.py) and the jobs of a sandbox runner
# (sandbox/runner.py: the gate ladder and one hook stage), named once in contract.jobs.
from contract import job_signing
from contract.jobs import HEARTBEAT_FIELD

log = logging.getLogger(__name__)

# Longest piece of a refused job's function name repeated in the log and its failure.
MAX_NAME_CHARS = 120


def refusal(job: Any, allowed: frozenset[str]) -> str | None:
    """Why ``job`` must not run on a worker whose functions are ``allowed`` (None: it may).

    Reads only what rq stored; imports and calls nothing the job names.
    """
    try:
        func_name = job.func_name
        instance = job.instance
    except Exception as exc:  # undecodable payload: rq would fail it later, we refuse now
        return f"unreadable job payload ({type(exc).__name__})"
    if not isinstance(func_name, str) or func_name not in allowed:
        shown = str(func_name)[:MAX_NAME_CHARS].encode("ascii", "replace").decode()
        return f"function {shown!r} is not one of this worker's jobs ({', '.join(sorted(allowed))})"
    if instance is not None:
        return "a job called on an instance"
    callbacks = [
        kind
        for kind in ("success", "failure", "stopped")
        if getattr(job, f"_{kind}_callback_name", None)
    ]
    if callbacks:
        return f"the job carries {'/'.join(callbacks)} callbacks"
    if getattr(job, "_dependency_ids", None):
        return "the job carries dependencies"
    if getattr(job, "webhooks", None):
        return "the job carries webhooks"
    return None


def _defuse(job: Any) -> None:
    """Nothing of a refused job may run while rq records its failure."""
    for kind in ("success", "failure", "stopped"):
        setattr(job, f"_{kind}_callback_name", None)
        setattr(job, f"_{kind}_callback", None)
    job.webhooks = []
    job.retries_left = None  # never requeued


def guarded_worker(
    base: type,
    allowed: frozenset[str],
    key: bytes | None = None,
    heartbeat_s: int | None = None,
) -> type:
    """A subclass of the rq worker class ``base`` that runs only jobs calling ``allowed``
    and, given the role's job ``key``, only jobs the orchestrator signed with it.
    ``heartbeat_s``: the interval the worker heartbeats at, written into its worker record
    so the orchestrator can tell a dead worker in seconds (:mod:`orchestrator.worker_watch`)."""

    # ``base`` is rq's worker class, handed in at run time: the leaf never imports rq, so
    # to the type checker the base is untyped.
    class GuardedWorker(base):  # type: ignore[misc]
        allowed_functions = allowed
        job_key = key

        def register_birth(self) -> None:
            super().register_birth()
            if heartbeat_s is not None:
                self.connection.hset(self.key, HEARTBEAT_FIELD, str(heartbeat_s))

        def execute_job(self, job: Any, queue: Any) -> Any:
            reason = refusal(job, self.allowed_functions)
            if reason is None and self.job_key is not None:
                reason = job_signing.refusal(self.job_key, job)
            if reason is None:
                return super().execute_job(job, queue)
            log.warning("refused rq job %s: %s", job.id, reason)
            _defuse(job)
            execution = self.prepare_execution(job)
            self.handle_job_failure(
                job, queue=queue, exc_string=f"refused: {reason}", execution=execution
            )
            self.set_state("idle")
            return None

    GuardedWorker.__name__ = GuardedWorker.__qualname__ = f"Guarded{base.__name__}"
    return GuardedWorker
