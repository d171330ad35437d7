"""End to end through the compose stack, as `make up && make study && make down` runs it.

The stack runs with the host-networking overlay (this machine's engine has no bridge
network; every service talks over 127.0.0.1) and its own Redis on a free port, never the
shared 6379. A small CPU study goes through Redis, the trainer container and the sandbox
runner to its summary; the trainer container's processes are killed mid-trial, Docker's
restart policy brings it back, and the study still finishes every trial index exactly once.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, need

pytestmark = [pytest.mark.docker, pytest.mark.slow]

STACK = REPO / "deploy" / "stack.sh"
# The images compose.yaml runs: the :latest builds of `make images`, or the tags these
# variables name (as images/build.sh and compose.yaml read them).
IMAGES = (
    os.environ.get("REDIS_IMAGE", "bilevel/redis:latest"),
    os.environ.get("ORCHESTRATOR_IMAGE", "bilevel/orchestrator:latest"),
    os.environ.get("SANDBOX_RUNNER_IMAGE", "bilevel/sandbox-runner:latest"),
    os.environ.get("TRAINER_IMAGE", "bilevel/trainer") + ":cpu",
    "bilevel/sandbox:latest",
)
TRIAL_QUEUE = "bilevel:trials"
# Small enough for a 2-core host shared by several test runs (~5 s per trial), with enough
# trials that the kill lands mid-study.
STUDY_TOML = """
name = "stack-e2e"
iterations = 6
seed = 0
parallel = 1
executor = "rq"

[objective]
preset = "cpu-tiny"
dataset = "stdlib"
budget_mode = "tokens"
budget = 16000

[levels]
policy = false
research = true
# A session right after the first search trial: with 5 left it is worth starting (a session
# that could not shape 2 more trials is skipped, orchestrator/level2/research/driver.py).
research_every = 1

[llm]
provider = "builtin"

# The subject is the stack and a trainer kill, not acceptance: one trial per index.
[acceptance]
rule = "strict"
"""
# Cold start on a busy host: every service healthy, the runner's sandbox image checked.
UP_TIMEOUT_S = 300
# A killed trial is re-run after rq notices its worker's heartbeat stopped (~90 s), so the
# study takes a few minutes here.
STUDY_TIMEOUT_S = 540
# How long after a trial starts its trainer is killed: inside the training, not before it.
KILL_AFTER_START_S = 2.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
    project: str
    env: dict[str, str]
    redis_url: str
    log: list[str] = field(default_factory=list)

    def run(self, *args: str, timeout: float = 120, **kw: Any) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            ["bash", str(STACK), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            **kw,
        )
        self.log.append(f"$ stack.sh {' '.join(args)} -> {proc.returncode}\n{proc.stderr[-3000:]}")
        return proc

    def containers(self, service: str | None = None) -> list[str]:
        filters = ["--filter", f"label=com.docker.compose.project={self.project}"]
        if service:
            filters += ["--filter", f"label=com.docker.compose.service={service}"]
        out = subprocess.run(
            ["docker", "ps", "-aq", *filters], capture_output=True, text=True, check=True
        )
        return out.stdout.split()


@pytest.fixture
def stack(docker_engine: None, tmp_path: Path) -> Iterator[Stack]:
    missing = [
        image
        for image in IMAGES
        if subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode
    ]
    need(not missing, f"images missing ({', '.join(missing)}); build them with `make images`")
    need(
        subprocess.run(["docker-compose", "version"], capture_output=True).returncode == 0
        or subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0,
        "no compose command (`docker compose` or `docker-compose`)",
    )
    project = f"bltest{uuid.uuid4().hex[:10]}"
    port = free_port()
    password = secrets.token_hex(16)
    env = {
        **os.environ,
        "COMPOSE_PROJECT_NAME": project,
        "BILEVEL_GPU": "no",
        "BILEVEL_HOST_NETWORK": "yes",
        "BILEVEL_STACK_REDIS_PORT": str(port),
        "BILEVEL_DASHBOARD_PORT": str(free_port()),
        # One Redis user per role (deploy/redis-entrypoint.sh); the test reads the queues
        # with the orchestrator's credentials.
        "REDIS_PASSWORD": password,
        "REDIS_ORCHESTRATOR_PASSWORD": password + "o",
        "REDIS_TRAINER_PASSWORD": password + "t",
        "REDIS_RUNNER_PASSWORD": password + "r",
        "REDIS_CODETRAINER_PASSWORD": password + "c",
        "BILEVEL_UP_TIMEOUT": str(UP_TIMEOUT_S),
    }
    handle = Stack(project, env, f"redis://orchestrator:{password}o@127.0.0.1:{port}/0")
    try:
        yield handle
    finally:
        # Containers and the stack's volumes; a failed test leaves nothing behind either.
        handle.run("compose", "down", "--volumes", "--remove-orphans", "--timeout", "5")


def read_journal(stack: Stack, study: str) -> list[dict[str, Any]]:
    proc = stack.run(
        "compose", "exec", "-T", "orchestrator", "cat", f"/app/runs/{study}/events.jsonl"
    )
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


class TrainerKiller(threading.Thread):
    """Waits for a trial to be running on the stack, then kills every process of the
    trainer container (as a crash or an OOM kill would), once."""

    def __init__(self, stack: Stack) -> None:
        super().__init__(daemon=True)
        self.stack = stack
        self.killed_job: str | None = None
        self.error: str | None = None
        self._done = threading.Event()

    def stop(self) -> None:
        self._done.set()

    def run(self) -> None:
        import redis
        from rq.registry import StartedJobRegistry

        try:
            connection = redis.Redis.from_url(self.stack.redis_url, socket_timeout=5)
            registry = StartedJobRegistry(TRIAL_QUEUE, connection=connection)
            while not self._done.is_set():
                started = registry.get_job_ids()
                if started:
                    time.sleep(KILL_AFTER_START_S)
                    (trainer,) = self.stack.containers("trainer")
                    # `kill -9 -1` ends every process but PID 1 (docker-init), which then
                    # exits: the container dies, and its restart policy must bring it back.
                    subprocess.run(
                        ["docker", "exec", trainer, "sh", "-c", "kill -9 -1"],
                        capture_output=True,
                        timeout=30,
                    )
                    self.killed_job = started[0]
                    return
                self._done.wait(0.2)
        except Exception as exc:  # reported by the test, not lost in a thread
            self.error = repr(exc)


def restart_count(container: str) -> int:
    out = subprocess.run(
        ["docker", "inspect", "-f", "{{.RestartCount}}", container],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip())


def test_study_runs_through_the_stack_and_survives_a_trainer_kill(
    stack: Stack, tmp_path: Path
) -> None:
    up = stack.run("up", timeout=UP_TIMEOUT_S + 120)
    assert up.returncode == 0, "\n".join(stack.log)
    assert "host networking on 127.0.0.1" in up.stderr and "CPU" in up.stderr
    assert stack.run("running").returncode == 0
    services = {
        name: stack.containers(name)
        for name in ("redis", "orchestrator", "sandbox-runner", "trainer")
    }
    # Two sandbox runners: a ladder in one never holds up the study's hook calls.
    counts = {name: len(ids) for name, ids in services.items()}
    assert counts == {"redis": 1, "orchestrator": 1, "sandbox-runner": 2, "trainer": 1}, services

    study_file = tmp_path / "stack-e2e.toml"
    # No [rq] table: the orchestrator takes the stack's Redis from BILEVEL_REDIS_URL.
    study_file.write_text(STUDY_TOML)
    killer = TrainerKiller(stack)
    killer.start()
    try:
        study = stack.run("study", str(study_file), "--plain", timeout=STUDY_TIMEOUT_S)
    finally:
        killer.stop()
        killer.join(timeout=10)
    assert study.returncode == 0, study.stdout[-3000:] + "\n".join(stack.log)
    assert killer.error is None, killer.error
    assert killer.killed_job, "no trial was seen running on the trainer"

    # The trainer container came back by its restart policy, and is the same container.
    (trainer,) = stack.containers("trainer")
    assert trainer == services["trainer"][0]
    assert restart_count(trainer) >= 1

    # The dashboard serves the study from the runs volume, on the host's 127.0.0.1.
    dashboard = f"http://127.0.0.1:{stack.env['BILEVEL_DASHBOARD_PORT']}/api/studies"
    with urllib.request.urlopen(dashboard, timeout=10) as answer:
        assert "stack-e2e" in [s["name"] for s in json.load(answer)["studies"]]

    events = read_journal(stack, "stack-e2e")
    proposed = [e["index"] for e in events if e["type"] == "trial_proposed"]
    finished = Counter(e["index"] for e in events if e["type"] == "trial_finished")
    assert sorted(finished) == sorted(set(proposed)), (proposed, finished)
    assert all(count == 1 for count in finished.values()), finished
    assert len(finished) >= 4
    # The killed trial was re-run on the restarted trainer, not written off.
    statuses = {e["index"]: e["result"]["status"] for e in events if e["type"] == "trial_finished"}
    assert all(status == "ok" for status in statuses.values()), statuses
    assert any(e["type"] == "study_finished" for e in events)
    # Level 2 went through the sandbox runner: the gate ladder ran in sandbox containers.
    research = [e for e in events if e["type"].startswith(("research", "gate", "mechanism"))]
    assert any(e["type"] == "gate_verdict" for e in events), (
        [e["type"] for e in events],
        research,
    )
    trainer_logs = subprocess.run(
        ["docker", "logs", trainer], capture_output=True, text=True, timeout=30
    )
    assert "trial" in trainer_logs.stdout + trainer_logs.stderr

    # A user's own objective on the stack: the example's code travels with its study file
    # (runs/.submitted/), and the trainer runs it: a command, and a scikit-learn function.
    for example, metric in (("train.toml", "val_loss"), ("digits.toml", "accuracy")):
        file = REPO / "examples" / "objectives" / example
        own = stack.run("study", str(file), "--plain", "--iterations", "2", timeout=300)
        assert own.returncode == 0, own.stdout[-3000:] + "\n".join(stack.log)
        # The example's own acceptance rule (paired) adds baseline repeats and final re-runs
        # to the 2 search-budget trials: every one of them ran, and ran ok (a line with no
        # other status).
        ran = re.search(r"^trials: ok=(\d+)$", own.stdout, re.MULTILINE)
        assert f"best_{metric}:" in own.stdout and ran and int(ran[1]) >= 2, own.stdout

    down = stack.run("down")
    assert down.returncode == 0, "\n".join(stack.log)
    assert stack.containers() == []
    assert stack.run("running").returncode != 0
