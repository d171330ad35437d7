"""`bilevel worker`: a trainer worker that runs trials from an rq queue.

Uses rq's JSON serializer (never pickle) and runs only the trial job: a job naming any other
function, or carrying callbacks, dependencies or webhooks, is refused unrun
(:mod:`contract.rq_guard`). Each job forks an rq work horse, which starts the
training in its own supervised child process (:mod:`trainer.supervise`): a crash, OOM kill
or hang in training ends that trial, never the worker. The worker process never imports
torch. Run one worker per GPU; workers on many hosts can share one Redis.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import typer

from orchestrator.errors import UserError

if TYPE_CHECKING:
    from redis import Redis

REDIS_URL_ENV = "BILEVEL_REDIS_URL"
# The deployment's trial queue (.env); orchestrator.config reads the same variable, so a
# study and its workers meet on it without flags. Not imported from there: this command
# runs in the trainer image, without the orchestrator's dependencies.
TRIAL_QUEUE_ENV = "BILEVEL_TRIAL_QUEUE"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# Seconds to wait for Redis before saying it is unreachable: a local server answers in ms.
REDIS_CONNECT_TIMEOUT_S = 3


def redis_url_from(option: str | None) -> str:
    return option or os.environ.get(REDIS_URL_ENV) or DEFAULT_REDIS_URL


def redacted(url: str) -> str:
    """The URL with its password replaced, safe to print."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def connect_redis(url: str) -> Redis:
    """A connected ``redis.Redis``, or a UserError naming the address and the fix."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=REDIS_CONNECT_TIMEOUT_S)
        client.ping()
    except (redis.RedisError, ValueError, OSError) as exc:
        raise UserError(
            f"cannot reach Redis at {redacted(url)} ({type(exc).__name__}); start Redis or "
            f"pass --redis-url / set {REDIS_URL_ENV}"
        ) from None
    return client


def register(app: typer.Typer) -> None:
    @app.command("worker")
    def worker_command(
        queue: str = typer.Option(
            "", help="queue name (default: $BILEVEL_TRIAL_QUEUE, else bilevel:trials)"
        ),
        redis_url: str | None = typer.Option(
            None, help=f"Redis URL (default: ${REDIS_URL_ENV} or {DEFAULT_REDIS_URL})"
        ),
        burst: bool = typer.Option(False, help="exit once the queue is empty"),
        name: str | None = typer.Option(None, help="worker name shown by rq (default: rq's)"),
    ) -> None:
        """Start a trainer worker that runs trials from a queue."""
        from rq import Queue, Worker
        from rq.serializers import JSONSerializer

        from contract.job_signing import TRIAL_KEY_ENV, JobKeyError, warn_if_unsigned, worker_key
        from contract.jobs import (
            TRAINER_HEARTBEAT_S,
            TRAINER_WORKER_TTL_S,
            TRIAL_JOB_FUNCTIONS,
            TRIAL_QUEUE,
        )
        from contract.rq_guard import guarded_worker

        try:  # a bad key stops here, before Redis is touched
            key = worker_key(TRIAL_KEY_ENV)
        except JobKeyError as exc:
            raise UserError(str(exc)) from None
        connection = connect_redis(redis_url_from(redis_url))
        warn_if_unsigned(TRIAL_KEY_ENV, key)
        name_of_queue = queue or os.environ.get(TRIAL_QUEUE_ENV) or TRIAL_QUEUE
        trial_queue = Queue(name_of_queue, connection=connection, serializer=JSONSerializer)
        worker_class = guarded_worker(
            Worker, TRIAL_JOB_FUNCTIONS, key, heartbeat_s=TRAINER_HEARTBEAT_S
        )
        # Frequent heartbeats, idle or busy: the orchestrator sees this worker die within
        # seconds (orchestrator/worker_watch.py), not rq's minutes.
        worker = worker_class(
            [trial_queue],
            connection=connection,
            serializer=JSONSerializer,
            name=name,
            job_monitoring_interval=TRAINER_HEARTBEAT_S,
            worker_ttl=TRAINER_WORKER_TTL_S,
        )
        worker.work(burst=burst, with_scheduler=False)
