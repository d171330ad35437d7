"""The client seam: hook calls through a backend, and the same requests through the runner."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sandbox.answers import LadderReport, StageResult
from sandbox.client import DirectClient, RunnerClient, make_client
from sandbox.contexts import contract_contexts
from sandbox.ladder import source_sha
from tests.conftest import REPO

EXAMPLE = (REPO / "examples" / "mechanisms" / "trust_region.py").read_text()
HANGS = """from sandbox.api import Context, Mechanism


class Hangs(Mechanism):
    name = "hangs"

    def propose(self, ctx: Context):
        while True:
            pass
"""
FAST_LIMITS = {"call_seconds": 1.5}


def _ref(source: str, name: str) -> tuple[str, str, str]:
    return (name, source_sha(source), source)


def _long_context(space: list[dict[str, Any]]) -> dict[str, Any]:
    # Contexts come shuffled (contract tests look like live use): pick the case by name.
    return dict(contract_contexts(space, []))["long-history"]


def test_batched_call_isolates_a_failing_mechanism(
    backend: Any, space: list[dict[str, Any]]
) -> None:
    client = DirectClient(backend, limits=FAST_LIMITS)
    ctx = _long_context(space)
    result = client.call("propose", [_ref(EXAMPLE, "trust_region"), _ref(HANGS, "hangs")], ctx)
    assert isinstance(result, StageResult) and result.error == ""
    good, bad = result.outputs
    assert (good.name, good.ok, bad.name, bad.ok) == ("trust_region", True, "hangs", False)
    assert len(good.value) == 1 and set(good.value[0]) == {"changes", "rationale", "priority"}
    assert "timed out" in bad.error
    assert good.sha == source_sha(EXAMPLE)


def test_screen_needs_candidates_and_answers_one_verdict_each(
    process_backend: Any, space: list[dict[str, Any]]
) -> None:
    client = DirectClient(process_backend)
    ctx = _long_context(space)
    with pytest.raises(ValueError, match="needs the candidates"):
        client.call("screen", [_ref(EXAMPLE, "trust_region")], ctx)
    name = next(p["name"] for p in space if p["kind"] == "float" and not p["frozen"])
    repeat = {"changes": dict(ctx["history"][0]["changes"]) or {name: ctx["base"][name]}}
    fresh = {"changes": {name: ctx["base"][name] * 0.9}, "rationale": "", "priority": 0.0}
    result = client.call("screen", [_ref(EXAMPLE, "trust_region")], ctx, [repeat, fresh])
    verdicts = result.outputs[0].value
    assert [type(v["accept"]) for v in verdicts] == [bool, bool]


def test_clients_say_how_strongly_they_isolate(backend: Any) -> None:
    from sandbox.backends import STRONG_ISOLATION

    client = DirectClient(backend)
    assert client.isolation == backend.isolation
    expected = {"docker"} if backend.name == "docker" else {"bwrap", "unshare", "bare"}
    assert client.isolation in expected
    if backend.name == "docker":
        assert client.isolation in STRONG_ISOLATION


def test_make_client_rejects_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="unknown sandbox client"):
        make_client("carrier-pigeon")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs a Redis URL"):
        make_client("runner")


@pytest.mark.redis
def test_runner_serves_the_same_interface_over_redis(
    redis_url: str, unique_name: str, space: list[dict[str, Any]], tmp_path: Path
) -> None:
    """A real `bilevel sandbox-runner` (process backend) answers a RunnerClient."""
    log = (tmp_path / "runner.log").open("w")
    runner = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", "sandbox-runner", "--redis-url", redis_url,
         "--queue", unique_name, "--backend", "process"],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env={**os.environ},
    )  # fmt: skip
    try:
        client = RunnerClient(redis_url, unique_name, limits=FAST_LIMITS)
        assert client.isolation == "docker"  # the runner's default, until it answers
        report = client.check(EXAMPLE, space)
        assert isinstance(report, LadderReport)
        assert report.accepted and report.backend == "process"
        assert client.isolation == report.isolation != "docker"  # what the runner really runs
        rejected = client.check("import os\n", space)
        assert (rejected.accepted, rejected.stage) == (False, "static")
        result = client.call("guide", [_ref(EXAMPLE, "trust_region")], _long_context(space))
        assert result.outputs[0].ok
        # Jobs are deleted once read: nothing of this test stays in Redis.
        time.sleep(0.2)
        keys = client.connection.keys(f"*{unique_name}*")
        assert all(b"worker" in k or b"queues" in k or b"intermediate" in k for k in keys), keys
    finally:
        runner.terminate()
        runner.wait(timeout=30)
        log.close()
        from rq import Queue

        Queue(unique_name, connection=RunnerClient(redis_url, unique_name).connection).delete(
            delete_jobs=True
        )


@pytest.mark.redis
def test_runner_missing_is_an_infrastructure_error(
    redis_url: str, unique_name: str, monkeypatch: Any
) -> None:
    import sandbox.client as client_module
    from sandbox.backends import SandboxUnavailable

    monkeypatch.setattr(client_module, "RUNNER_SLACK_S", 1.0)
    monkeypatch.setattr(client_module, "LADDER_DEADLINE_S", 1.0)
    client = RunnerClient(redis_url, unique_name)
    with pytest.raises(SandboxUnavailable, match="no sandbox runner answered"):
        client.check(EXAMPLE, [{"name": "x", "kind": "float", "low": 0, "high": 1}])
    from rq import Queue

    Queue(unique_name, connection=client.connection).delete(delete_jobs=True)


@pytest.mark.redis
def test_a_slow_runner_is_waited_for_not_reported_as_redis_down(
    redis_url: str, unique_name: str, space: list[dict[str, Any]], tmp_path: Path
) -> None:
    """A ladder answered after redis-py's default 5 s read timeout still gets its verdict.

    On a busy machine a ladder takes longer than 5 s; waiting for it must not look like an
    unreachable Redis (seen in the stack: research sessions failed with a socket timeout).
    """
    import threading

    log = (tmp_path / "runner.log").open("w")
    procs: list[subprocess.Popen[bytes]] = []

    def start_runner_late() -> None:
        time.sleep(7)
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "orchestrator.cli", "sandbox-runner", "--redis-url",
             redis_url, "--queue", unique_name, "--backend", "process"],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
        ))  # fmt: skip

    starter = threading.Thread(target=start_runner_late)
    starter.start()
    try:
        report = RunnerClient(redis_url, unique_name, limits=FAST_LIMITS).check(EXAMPLE, space)
        assert report.accepted and report.backend == "process"
    finally:
        starter.join()
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
        log.close()
        from rq import Queue

        Queue(unique_name, connection=RunnerClient(redis_url, unique_name).connection).delete(
            delete_jobs=True
        )
