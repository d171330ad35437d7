"""Per-role Redis credentials (deploy/redis-entrypoint.sh), on a real Redis of our own.

The stack's entrypoint script starts a private redis-server on a free port (never the
shared one on 6379), with its ACL users. A trainer's credentials cannot enqueue sandbox work
or touch a sandbox job, a runner's cannot enqueue trials, and the real trainer worker and
sandbox runner still do their jobs with exactly their own credentials.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, need

pytestmark = pytest.mark.redis

ENTRYPOINT = REPO / "deploy" / "redis-entrypoint.sh"
TRIAL_QUEUE = "bilevel:trials"
SANDBOX_QUEUE = "bilevel-sandbox"
PASSWORDS = {
    "default": "admin-pw",
    "orchestrator": "orch pw with spaces 'and' \"quotes\"",
    "trainer": "trainer-pw",
    "runner": "runner-pw",
    "codetrainer": "code-trainer-pw",
}
CODE_TRIAL_QUEUE = "bilevel:code-trials"


@dataclass(frozen=True)
class AclRedis:
    port: int

    def url(self, user: str) -> str:
        from urllib.parse import quote

        return f"redis://{user}:{quote(PASSWORDS[user], safe='')}@127.0.0.1:{self.port}/0"

    def connect(self, user: str) -> Any:
        import redis

        return redis.Redis.from_url(self.url(user))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def acl_redis(tmp_path: Path) -> Iterator[AclRedis]:
    need(shutil.which("redis-server") is not None, "redis-server is not installed")
    port = _free_port()
    env = {
        **os.environ,
        "REDIS_PASSWORD": PASSWORDS["default"],
        "REDIS_ORCHESTRATOR_PASSWORD": PASSWORDS["orchestrator"],
        "REDIS_TRAINER_PASSWORD": PASSWORDS["trainer"],
        "REDIS_RUNNER_PASSWORD": PASSWORDS["runner"],
        "REDIS_CODETRAINER_PASSWORD": PASSWORDS["codetrainer"],
        "REDIS_CONF_DIR": str(tmp_path / "conf"),
        "REDIS_DATA_DIR": str(tmp_path),
        "REDIS_BIND": "127.0.0.1",
        "REDIS_PORT": str(port),
    }
    server = subprocess.Popen(
        ["sh", str(ENTRYPOINT), "--appendonly", "no"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    redis_ = AclRedis(port)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                if redis_.connect("default").ping():
                    break
            except Exception:
                if server.poll() is not None or time.monotonic() > deadline:
                    out = server.stdout.read().decode() if server.stdout else ""
                    pytest.fail(f"the stack's Redis entrypoint did not start: {out[-2000:]}")
                time.sleep(0.1)
        conf = (tmp_path / "conf" / "auth.conf").read_text()
        assert all(pw not in conf for pw in PASSWORDS.values())  # digests only
        yield redis_
    finally:
        server.terminate()
        server.wait(timeout=10)


def _queue(connection: Any, name: str) -> Any:
    from rq import Queue
    from rq.serializers import JSONSerializer

    return Queue(name, connection=connection, serializer=JSONSerializer)


def test_a_trainers_credentials_cannot_enqueue_or_touch_sandbox_work(acl_redis: AclRedis) -> None:
    import redis

    orchestrator = acl_redis.connect("orchestrator")
    sandbox_job = _queue(orchestrator, SANDBOX_QUEUE).enqueue(
        "sandbox.runner.call_job", {"stage": "guide"}, job_id="sandbox-0123"
    )
    trainer = acl_redis.connect("trainer")
    for job_id in ("sandbox-forged", "trial-forged"):
        with pytest.raises(redis.exceptions.NoPermissionError):
            _queue(trainer, SANDBOX_QUEUE).enqueue(
                "sandbox.runner.call_job", {"stage": "guide"}, job_id=job_id
            )
    with pytest.raises(redis.exceptions.NoPermissionError):
        trainer.rpush(f"rq:queue:{SANDBOX_QUEUE}", "sandbox-forged")
    with pytest.raises(redis.exceptions.NoPermissionError):  # nor rewrite a queued one
        trainer.hset(f"rq:job:{sandbox_job.id}", "data", "{}")
    with pytest.raises(redis.exceptions.NoPermissionError):
        trainer.hgetall(f"rq:job:{sandbox_job.id}")
    for dangerous in (("CONFIG", "SET", "dir", "/tmp"), ("FLUSHALL",), ("KEYS", "*")):
        with pytest.raises(redis.exceptions.NoPermissionError):
            trainer.execute_command(*dangerous)
    # The sandbox job is intact and still queued.
    assert _queue(orchestrator, SANDBOX_QUEUE).job_ids == ["sandbox-0123"]

    runner = acl_redis.connect("runner")
    with pytest.raises(redis.exceptions.NoPermissionError):
        _queue(runner, TRIAL_QUEUE).enqueue("trainer.jobs.run_trial", {}, job_id="trial-forged")
    default = acl_redis.connect("default")
    assert default.ping()
    with pytest.raises(redis.exceptions.NoPermissionError):
        default.get("rq:queues")


def test_the_code_trainer_reads_only_code_trials_and_no_trainer_reads_them(
    acl_redis: AclRedis,
) -> None:
    """The code trainer (the socket holder that jails recipes) may serve the code-trial
    queue and nothing else; a plain trainer may neither take nor touch a code trial."""
    import redis

    orchestrator = acl_redis.connect("orchestrator")
    trial = _queue(orchestrator, TRIAL_QUEUE).enqueue(
        "trainer.jobs.run_trial", {"trial_id": "t"}, job_id="trial-plain-a1"
    )
    code = _queue(orchestrator, CODE_TRIAL_QUEUE).enqueue(
        "trainer.jobs.run_trial", {"trial_id": "c"}, job_id="codetrial-edit-a1"
    )
    sandbox_job = _queue(orchestrator, SANDBOX_QUEUE).enqueue(
        "sandbox.runner.call_job", {"stage": "guide"}, job_id="sandbox-0456"
    )
    code_trainer = acl_redis.connect("codetrainer")
    # Its own queue and jobs: what a worker on it reads.
    assert _queue(code_trainer, CODE_TRIAL_QUEUE).job_ids == [code.id]
    assert code_trainer.hgetall(f"rq:job:{code.id}")
    # Nothing of the plain trainers' or the runners'.
    for key in (f"rq:job:{trial.id}", f"rq:job:{sandbox_job.id}"):
        with pytest.raises(redis.exceptions.NoPermissionError):
            code_trainer.hgetall(key)
    for queue in (TRIAL_QUEUE, SANDBOX_QUEUE):
        with pytest.raises(redis.exceptions.NoPermissionError):
            code_trainer.lrange(f"rq:queue:{queue}", 0, -1)
    for queue, job_id in ((TRIAL_QUEUE, "trial-forged"), (SANDBOX_QUEUE, "sandbox-forged")):
        with pytest.raises(redis.exceptions.NoPermissionError):
            _queue(code_trainer, queue).enqueue("trainer.jobs.run_trial", {}, job_id=job_id)
    trainer = acl_redis.connect("trainer")
    with pytest.raises(redis.exceptions.NoPermissionError):
        trainer.lrange(f"rq:queue:{CODE_TRIAL_QUEUE}", 0, -1)
    with pytest.raises(redis.exceptions.NoPermissionError):
        trainer.hgetall(f"rq:job:{code.id}")
    with pytest.raises(redis.exceptions.NoPermissionError):
        trainer.hset(f"rq:job:{code.id}", "data", "{}")
    assert _queue(orchestrator, CODE_TRIAL_QUEUE).job_ids == [code.id]


@pytest.mark.slow
def test_each_service_does_its_job_with_its_own_credentials(
    acl_redis: AclRedis, bilevel_cli: list[str]
) -> None:
    """A real trial on `bilevel worker` (trainer user) and a real gate ladder on `bilevel
    sandbox-runner` (runner user), both enqueued by the orchestrator user."""
    from orchestrator.executor import job_id_for
    from sandbox.client import RunnerClient
    from tests.trainer.helpers import make_spec
    from trainer.presets import get_preset
    from trainer.spec import Budget

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    spec = make_spec("acl", budget=Budget(mode="tokens", amount=2048))
    job = _queue(acl_redis.connect("orchestrator"), TRIAL_QUEUE).enqueue(
        "trainer.jobs.run_trial", spec.model_dump(mode="json"), job_id=job_id_for(spec, 1)
    )
    trainer_url = acl_redis.url("trainer")
    worker = subprocess.run(
        [*bilevel_cli, "worker", "--burst", "--queue", TRIAL_QUEUE, "--redis-url", trainer_url],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert worker.returncode == 0, worker.stderr[-2000:]
    result = job.latest_result()
    assert result is not None and result.return_value["status"] == "ok", worker.stderr[-2000:]

    runner_args = [*bilevel_cli, "sandbox-runner", "--backend", "process"]
    runner = subprocess.Popen(
        [*runner_args, "--queue", SANDBOX_QUEUE, "--redis-url", acl_redis.url("runner")],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        client = RunnerClient(acl_redis.url("orchestrator"), SANDBOX_QUEUE)
        source = (REPO / "examples" / "mechanisms" / "trust_region.py").read_text()
        report = client.check(source, get_preset("cpu-tiny").space)
        client.close()
    finally:
        runner.terminate()
        _, stderr = runner.communicate(timeout=30)
    assert report.accepted, report.reason
    assert "NOPERM" not in stderr and "NoPermission" not in stderr, stderr[-2000:]
