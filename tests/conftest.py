"""Shared test fixtures: real services only (Redis, Docker), never fakes.

A test that needs a service it cannot find *skips* on a developer's laptop, but *fails*
when ``BILEVEL_REQUIRE_SERVICES=1`` (set by ``.ci/run``): in CI a skipped Docker or Redis
test would be a silent hole in the security and integration suites.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("BILEVEL_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REQUIRE_SERVICES = os.environ.get("BILEVEL_REQUIRE_SERVICES") == "1"

# Tests that share one resource, by the fixture that provides it, run on one xdist worker
# (`make test` distributes with --dist loadgroup): a resource scoped wider than one test is
# then built once rather than once per worker, and two workers never race for it.
SHARED_RESOURCES = {
    "server": "dashboard-server",  # one `bilevel dashboard` process for the dashboard package
    "reported": "study-report",  # one synthetic study's report, drawn once for its module
    # Private redis-servers on a port picked free, then bound (and rebound on a restart):
    # one at a time, so no other worker's pick can land on a port in between.
    "acl_redis": "private-redis",
    "stack": "private-redis",
}


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if next(item.iter_markers("xdist_group"), None) is not None:
            continue  # grouped by its module already
        fixtures = getattr(item, "fixturenames", ())
        group = next((g for name, g in SHARED_RESOURCES.items() if name in fixtures), None)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))


@pytest.hookimpl(tryfirst=True)  # before xdist sends this worker's test ids to the scheduler
def pytest_collection_finish(session: pytest.Session) -> None:
    """``--dist loadgroup`` schedules by an ``@group`` suffix on each grouped test's id.
    xdist 3.8 writes it where pytest 9.2 no longer reads ids from, so every group would be
    spread over the workers unnoticed (pytest-xdist issue 1386): write it where it counts."""
    if not getattr(session.config.option, "loadgroup", False):
        return
    for item in session.items:
        mark = next(item.iter_markers("xdist_group"), None)
        if mark is None or "@" in item.nodeid.rpartition("]")[2]:
            continue  # not grouped, or xdist's own suffix took
        name = mark.args[0] if mark.args else mark.kwargs.get("name", "default")
        node_id = getattr(item, "_id", None)
        if node_id is not None and hasattr(node_id, "parse"):
            item._id = node_id.parse(f"{item.nodeid}@{name}")


def need(condition: bool, why: str) -> None:
    """Skip (locally) or fail (in CI) when a required service is missing."""
    if condition:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"required service missing in CI: {why}", pytrace=False)
    pytest.skip(why)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of the real Redis on 127.0.0.1:6379 (DB 15).

    Never flushed: several test runs may share it. Tests namespace their queues and keys
    with a unique prefix (see ``unique_name``) and delete what they create.
    """
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        client.ping()
    except Exception as exc:  # any failure means "no Redis"
        need(False, f"Redis at {REDIS_URL} does not answer ({exc})")
    return REDIS_URL


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A name no other test (or concurrent test run) uses, for queues, keys and studies."""
    import uuid

    return f"t-{request.node.name[:24]}-{uuid.uuid4().hex[:8]}".replace("[", "-").replace("]", "")


def docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "info"], capture_output=True, timeout=20)
    return probe.returncode == 0


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """A Docker engine answers (see .ci/run, which starts one)."""
    need(docker_available(), "no Docker engine answers (`docker info` failed)")


@pytest.fixture(scope="session")
def bilevel_cli() -> list[str]:
    """argv prefix that runs the `bilevel` CLI of this checkout."""
    return [sys.executable, "-m", "orchestrator.cli"]
