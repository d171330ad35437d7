"""Level-2 fixtures: the rq services a study needs (a trainer worker and sandbox runners)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import REPO

# Two runners: a ladder check (seconds) never holds up a study's hook calls.
SANDBOX_RUNNERS = 2


@dataclass(frozen=True)
class RqServices:
    redis_url: str
    trials_queue: str
    sandbox_queue: str


def _spawn(args: list[str]) -> subprocess.Popen[Any]:
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", *args],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture
def rq_services(redis_url: str, unique_name: str, docker_engine: None) -> Iterator[RqServices]:
    """A trainer worker and sandbox runners (docker backend) on this test's own queues;
    stopped, and their Redis keys deleted, afterwards."""
    services = RqServices(redis_url, f"{unique_name}-trials", f"{unique_name}-sandbox")
    procs = [_spawn(["worker", "--queue", services.trials_queue, "--redis-url", redis_url])]
    procs += [
        _spawn(["sandbox-runner", "--queue", services.sandbox_queue, "--redis-url", redis_url])
        for _ in range(SANDBOX_RUNNERS)
    ]
    try:
        yield services
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        import redis

        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(match=f"*{unique_name}*"):  # only this test's keys
            client.delete(key)
