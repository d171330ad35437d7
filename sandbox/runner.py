"""The sandbox runner service: an rq worker that owns the Docker socket (DESIGN §2).

``bilevel sandbox-runner`` serves :func:`ladder_job` and :func:`call_job` from one queue,
with rq's JSON serializer (a request never unpickles anything), and nothing else: a job naming
any other function, or carrying callbacks, dependencies or webhooks, is refused before any
of it runs (:mod:`contract.rq_guard`), so Redis access is not Docker-socket access; with
``$BILEVEL_SANDBOX_JOB_KEY`` set, so is any job the orchestrator did not sign with it
(:mod:`contract.job_signing`). A reaper thread removes
sandbox containers that outlived their deadline, e.g. after the runner itself was killed.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from sandbox.backends import Backend, make_backend
from sandbox.ladder import call_stage, run_ladder

log = logging.getLogger(__name__)

BACKEND_ENV = "BILEVEL_SANDBOX_BACKEND"  # the runner's backend; docker in production
REAP_INTERVAL_S = 30.0  # how often leftover sandbox containers are looked for

_backend: Backend | None = None


def _get_backend() -> Backend:
    global _backend
    if _backend is None:
        _backend = make_backend(os.environ.get(BACKEND_ENV, "auto"))
    return _backend


def ladder_job(payload: dict[str, Any]) -> dict[str, Any]:
    """rq job: the ladder on one module; returns a ``LadderReport`` dict."""
    report = run_ladder(
        payload["source"],
        payload["space"],
        backend=_get_backend(),
        replays=payload.get("replays") or [],
        filename=payload.get("filename") or "mechanism.py",
        limits=payload.get("limits") or {},
        iterations=iterations if isinstance(iterations := payload.get("iterations"), int) else None,
    )
    return report.to_dict()


def call_job(payload: dict[str, Any]) -> dict[str, Any]:
    """rq job: one hook stage for a batch of mechanisms; returns a ``StageResult`` dict."""
    mechanisms = [(str(n), str(s), str(src)) for n, s, src in payload["mechanisms"]]
    result = call_stage(
        payload["stage"],
        mechanisms,
        payload["context"],
        payload.get("candidates"),
        backend=_get_backend(),
        limits=payload.get("limits") or {},
    )
    return result.to_dict()


def _reaper(stop: threading.Event) -> None:
    from sandbox.backends.docker import reap_containers

    while not stop.wait(REAP_INTERVAL_S):
        try:
            if removed := reap_containers():
                log.warning("reaped %d sandbox container(s) past their deadline", removed)
        except Exception as exc:  # the engine restarting must not kill the runner
            log.warning("container reaper: %s", exc)


def serve(redis_url: str, queue: str, backend: str = "auto", *, burst: bool = False) -> None:
    """Run the worker until stopped (or until the queue is empty with ``burst``)."""
    import redis
    from rq import Queue, SimpleWorker
    from rq.serializers import JSONSerializer

    from contract.job_signing import SANDBOX_KEY_ENV, warn_if_unsigned, worker_key
    from contract.jobs import SANDBOX_JOB_FUNCTIONS
    from contract.rq_guard import guarded_worker

    global _backend
    key = worker_key(SANDBOX_KEY_ENV)  # a bad key stops here, before anything starts
    _backend = make_backend(backend, warm=True)  # a service: keep the next sandbox ready
    for warning in _backend.warnings:
        log.warning("sandbox runner: %s", warning)
    connection = redis.Redis.from_url(redis_url)
    connection.ping()
    warn_if_unsigned(SANDBOX_KEY_ENV, key)
    stop = threading.Event()
    if _backend.name == "docker":
        threading.Thread(target=_reaper, args=(stop,), daemon=True).start()
    # SimpleWorker: jobs run in this process (no fork per job), keeping the backend and its
    # Docker connection warm; the job timeout still applies.
    worker = guarded_worker(SimpleWorker, SANDBOX_JOB_FUNCTIONS, key)(
        [Queue(queue, connection=connection, serializer=JSONSerializer)],
        connection=connection,
        serializer=JSONSerializer,
    )
    try:
        worker.work(burst=burst, logging_level="WARNING")
    finally:
        stop.set()
