"""rq takes only its own jobs: forged jobs on the real Redis, served by the real workers.

A forged job names a function that writes a file (importable from this checkout, so an
unguarded worker *does* run it: the control below shows that). The trainer worker and the
sandbox runner, started through the real CLI, must refuse it without running anything: the
file is never written, and the job is failed with the reason.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contract.jobs import SANDBOX_JOB_FUNCTIONS, TRIAL_JOB_FUNCTIONS
from contract.rq_guard import guarded_worker
from tests.conftest import REPO

pytestmark = pytest.mark.redis

MARKER_FUNC = "tests.security.test_host_rq.write_marker"


def write_marker(path: str, *rest: Any) -> str:
    """What a forged job or callback would do: leave a trace on the worker's host."""
    Path(path).write_text("ran")
    return "ran"


def marker_callback(job: Any, connection: Any, *rest: Any) -> None:
    Path(job.meta["marker"]).write_text("callback ran")


@pytest.fixture
def queue(redis_url: str, unique_name: str) -> Iterator[Any]:
    import redis
    from rq import Queue
    from rq.serializers import JSONSerializer

    connection = redis.Redis.from_url(redis_url)
    q = Queue(unique_name, connection=connection, serializer=JSONSerializer)
    yield q
    q.empty()
    for key in connection.scan_iter(f"*{unique_name}*"):
        connection.delete(key)


def serve(cli: list[str], role: str, queue: Any, redis_url: str) -> None:
    """The real `bilevel worker` / `bilevel sandbox-runner`, until the queue is empty."""
    common = ["--queue", queue.name, "--burst", "--redis-url", redis_url]
    args = ["worker", *common] if role == "trainer" else ["sandbox-runner", *common]
    if role != "trainer":
        args += ["--backend", "process"]
    done = subprocess.run(
        [*cli, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 0, done.stderr[-2000:]


def status_of(job: Any) -> tuple[str, str]:
    job.refresh()
    result = job.latest_result()
    status = job.get_status()
    return str(getattr(status, "value", status)), (result.exc_string if result else "") or ""


@pytest.mark.parametrize("role", ["trainer", "sandbox-runner"])
def test_a_forged_job_is_refused_unrun(
    bilevel_cli: list[str], queue: Any, redis_url: str, tmp_path: Path, role: str
) -> None:
    from rq import Callback

    own = sorted(TRIAL_JOB_FUNCTIONS if role == "trainer" else SANDBOX_JOB_FUNCTIONS)[0]
    other = sorted(SANDBOX_JOB_FUNCTIONS if role == "trainer" else TRIAL_JOB_FUNCTIONS)[0]
    markers = {name: tmp_path / f"{name}.txt" for name in ("func", "other", "cb", "dep")}
    forged = queue.enqueue(MARKER_FUNC, str(markers["func"]))
    crossed = queue.enqueue(other, {"spec": "not for this worker"})  # the other role's job
    # Its own function, with a failure callback and a success callback from the payload:
    # the callback would run in the worker even though the job itself fails.
    with_callbacks = queue.enqueue(
        own,
        {},
        on_failure=Callback(marker_callback),
        on_success=Callback(marker_callback),
        meta={"marker": str(markers["cb"])},
    )
    serve(bilevel_cli, role, queue, redis_url)

    for path in markers.values():
        assert not path.exists(), f"{path.name} was written: the job ran"
    for job, expected in (
        (forged, "is not one of this worker's jobs"),
        (crossed, "is not one of this worker's jobs"),
        (with_callbacks, "callbacks"),
    ):
        status, error = status_of(job)
        assert status == "failed" and "refused" in error and expected in error, (status, error)


def test_dependencies_from_the_payload_are_refused(
    queue: Any, redis_url: str, tmp_path: Path
) -> None:
    from rq import SimpleWorker
    from rq.serializers import JSONSerializer

    marker = tmp_path / "dep.txt"
    parent = queue.enqueue(MARKER_FUNC, str(tmp_path / "parent.txt"))
    child = queue.enqueue(MARKER_FUNC, str(marker), depends_on=parent)
    allowed = frozenset({MARKER_FUNC})  # the function is allowed; its dependency is not
    worker = guarded_worker(SimpleWorker, allowed)(
        [queue], connection=queue.connection, serializer=JSONSerializer
    )
    worker.work(burst=True)
    assert (tmp_path / "parent.txt").read_text() == "ran"  # an allowed job runs
    worker.work(burst=True)  # the dependent was enqueued when its parent finished
    assert not marker.exists()
    status, error = status_of(child)
    assert status == "failed" and "dependencies" in error


def test_control_an_unguarded_worker_runs_the_forged_job(queue: Any, tmp_path: Path) -> None:
    """Without the guard rq runs any importable dotted path: the forged job above is real."""
    from rq import SimpleWorker
    from rq.serializers import JSONSerializer

    marker = tmp_path / "ran.txt"
    queue.enqueue(MARKER_FUNC, str(marker))
    SimpleWorker([queue], connection=queue.connection, serializer=JSONSerializer).work(burst=True)
    assert marker.read_text() == "ran"
