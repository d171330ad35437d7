"""`bilevel sandbox-runner`: the service that owns the Docker socket and runs every sandbox."""

from __future__ import annotations

import os

import typer

from orchestrator.errors import UserError

# Same variable names as the rest of the stack (compose sets them).
REDIS_URL_ENV = "BILEVEL_REDIS_URL"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def register(app: typer.Typer) -> None:
    @app.command("sandbox-runner")
    def sandbox_runner_command(
        redis_url: str = typer.Option(
            None, "--redis-url", help=f"Redis URL (default ${REDIS_URL_ENV} or {DEFAULT_REDIS_URL})"
        ),
        queue: str = typer.Option(
            None, "--queue", help="rq queue to serve (default bilevel-sandbox)"
        ),
        backend: str = typer.Option(
            "docker", "--backend", help="docker (production) | process | auto"
        ),
        burst: bool = typer.Option(False, "--burst", help="exit when the queue is empty (tests)"),
    ) -> None:
        """Serve gate-ladder and hook-call requests from Redis in hardened sandboxes."""
        import logging

        import redis

        from contract.job_signing import JobKeyError
        from sandbox.backends import BACKEND_NAMES, SandboxUnavailable
        from sandbox.client import DEFAULT_QUEUE
        from sandbox.runner import serve

        if backend not in BACKEND_NAMES:
            raise UserError(f"unknown --backend {backend!r}; use one of {', '.join(BACKEND_NAMES)}")
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
        url = redis_url or os.environ.get(REDIS_URL_ENV) or DEFAULT_REDIS_URL
        try:
            serve(url, queue or DEFAULT_QUEUE, backend, burst=burst)
        except (SandboxUnavailable, JobKeyError) as exc:
            raise UserError(str(exc)) from None
        except redis.RedisError as exc:
            raise UserError(
                f"Redis at {url} does not answer ({exc}); start it or pass --redis-url"
            ) from None
