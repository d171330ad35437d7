"""Signed jobs on the stack's real ACL'd Redis (deploy/redis-entrypoint.sh).

A trainer's Redis user may rewrite a queued trial job (its ACL covers ``rq:job:trial-*``):
that is how one compromised trainer could run its own command on every other trainer. With
the trial job key set, the orchestrator signs every job it enqueues and the real `bilevel
worker` refuses a job that was altered or never signed; the refusal reaches the study as the
trial's error, and an intact job still runs.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import zlib
from typing import Any

import pytest

from contract.job_signing import TRIAL_KEY_ENV, JobKeyError, load_key, signed_meta
from orchestrator.executor import RqExecutor, job_id_for
from tests.conftest import REPO
from tests.deploy.test_redis_acl import TRIAL_QUEUE, AclRedis, acl_redis
from tests.trainer.helpers import make_spec
from trainer.spec import Budget, TrialResult

__all__ = ["acl_redis"]

pytestmark = pytest.mark.redis

# The smallest real trial: the intact job must still train, end to end.
TINY_BUDGET = Budget(mode="tokens", amount=2048)


def _spec(index: int) -> Any:
    spec = make_spec(f"signed-{index}", budget=TINY_BUDGET)
    return spec.model_copy(update={"index": index})


def _rewrite(trainer: Any, job_id: str, change: Any) -> None:
    """What a trainer's Redis user can do to a queued trial job: rewrite its payload."""
    key = f"rq:job:{job_id}"
    func, instance, args, kwargs = json.loads(zlib.decompress(trainer.hget(key, "data")))
    change(args[0])
    data = json.dumps([func, instance, args, kwargs]).encode()
    trainer.hset(key, "data", zlib.compress(data))


def _results(executor: RqExecutor, count: int) -> dict[int, TrialResult]:
    out: dict[int, TrialResult] = {}
    for _ in range(60):
        out.update({r.spec.index: r for r in executor.wait(1.0)})
        if len(out) >= count:
            break
    return out


def test_a_trial_job_altered_by_a_trainer_user_is_refused(
    acl_redis: AclRedis, bilevel_cli: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    key = secrets.token_hex(32)
    monkeypatch.setenv(TRIAL_KEY_ENV, key)
    executor = RqExecutor(acl_redis.url("orchestrator"), TRIAL_QUEUE)
    altered, intact = _spec(1), _spec(2)
    executor.submit(altered)
    executor.submit(intact)
    # An unsigned job, as anyone without the key could enqueue it (here: the orchestrator's
    # own user, so the ACL lets it through and only the signature can refuse it).
    unsigned = _spec(3)
    from rq import Queue
    from rq.serializers import JSONSerializer

    queue = Queue(
        TRIAL_QUEUE, connection=acl_redis.connect("orchestrator"), serializer=JSONSerializer
    )
    queue.enqueue(
        "trainer.jobs.run_trial", unsigned.model_dump(mode="json"), job_id=job_id_for(unsigned, 1)
    )
    executor._jobs[3] = (unsigned, 1)  # let the executor report it like its own

    trainer = acl_redis.connect("trainer")
    _rewrite(trainer, job_id_for(altered, 1), lambda spec: spec.update(seed=spec["seed"] + 1))

    env = {**os.environ, "PYTHONPATH": str(REPO), TRIAL_KEY_ENV: key}
    worker = subprocess.run(
        [
            *bilevel_cli,
            "worker",
            "--burst",
            "--queue",
            TRIAL_QUEUE,
            "--redis-url",
            acl_redis.url("trainer"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert worker.returncode == 0, worker.stderr[-2000:]
    results = _results(executor, 3)
    executor.close()
    assert results[2].status == "ok", results[2].error  # the intact, signed job trained
    for index in (1, 3):
        assert results[index].status == "crashed"
        assert "refused: bad signature" in (results[index].error or ""), results[index].error
    assert "altered" in (results[1].error or "") and "unsigned" in (results[3].error or "")


def test_a_worker_without_the_key_says_so_and_a_short_key_is_refused(
    bilevel_cli: list[str],
) -> None:
    with pytest.raises(JobKeyError, match="at least 32"):
        load_key(TRIAL_KEY_ENV, {TRIAL_KEY_ENV: "short"})
    env = {**os.environ, "PYTHONPATH": str(REPO), TRIAL_KEY_ENV: "change-me"}
    done = subprocess.run(
        [*bilevel_cli, "worker", "--burst", "--redis-url", "redis://127.0.0.1:1/0"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "at least 32" in done.stderr and "Traceback" not in done.stderr


def test_a_signature_binds_the_job_id_and_the_payload() -> None:
    from types import SimpleNamespace

    from contract.job_signing import META_FIELD, refusal

    key = secrets.token_hex(32).encode()
    meta = signed_meta(key, job_id="trial-x-a1", func="f", args=[{"a": 1}], study="s", index=4)
    assert meta[META_FIELD]["study"] == "s" and meta[META_FIELD]["index"] == 4

    def job(**changes: Any) -> Any:
        fields = {
            "id": "trial-x-a1",
            "func_name": "f",
            "args": [{"a": 1}],
            "kwargs": {},
            "meta": meta,
        }
        return SimpleNamespace(**{**fields, **changes})

    assert refusal(key, job()) is None
    assert refusal(key, job(id="trial-y-a1"))  # the same payload under another job id
    assert refusal(key, job(args=[{"a": 2}]))
    assert refusal(key, job(func_name="g"))
    assert refusal(b"another key of at least thirty-two characters", job())
    forged = {META_FIELD: {**meta[META_FIELD], "index": 5}}
    assert refusal(key, job(meta=forged))
    assert "unsigned" in str(refusal(key, job(meta={})))


def test_each_role_holds_only_the_key_it_verifies_with(tmp_path: Any) -> None:
    """The orchestrator signs with both; a trainer cannot sign sandbox work (which reaches
    the Docker socket), a runner cannot sign trials, the rest hold no key."""
    from contract.job_signing import SANDBOX_KEY_ENV
    from tests.deploy.test_compose_boundaries import BASE, load

    wanted = {
        "orchestrator": {TRIAL_KEY_ENV, SANDBOX_KEY_ENV},
        "trainer": {TRIAL_KEY_ENV},
        "code-trainer": {TRIAL_KEY_ENV},  # it holds the socket: never the sandbox key
        "sandbox-runner": {SANDBOX_KEY_ENV},
    }
    for name, service in load(BASE, tmp_path=tmp_path)["services"].items():
        keys = {k for k in service.get("environment", {}) if k.endswith("_JOB_KEY")}
        assert keys == wanted.get(name, set()), name


def test_a_runner_with_the_key_refuses_unsigned_sandbox_work(
    acl_redis: AclRedis, bilevel_cli: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The orchestrator's signed ladder passes; the same request unsigned is refused, and
    the refusal comes back to the caller as the sandbox's failure, with the reason."""
    from contract.job_signing import SANDBOX_KEY_ENV
    from orchestrator.level2.research.wiring import sandbox_signer
    from sandbox.backends import SandboxUnavailable
    from sandbox.client import RunnerClient
    from tests.deploy.test_redis_acl import SANDBOX_QUEUE
    from trainer.presets import get_preset

    key = secrets.token_hex(32)
    env = {**os.environ, "PYTHONPATH": str(REPO), SANDBOX_KEY_ENV: key}
    runner = subprocess.Popen(
        [*bilevel_cli, "sandbox-runner", "--backend", "process", "--queue", SANDBOX_QUEUE,
         "--redis-url", acl_redis.url("runner")],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    source = (REPO / "examples" / "mechanisms" / "trust_region.py").read_text()
    space = get_preset("cpu-tiny").space
    try:
        monkeypatch.setenv(SANDBOX_KEY_ENV, key)
        signer = sandbox_signer("study-a")
        signed = RunnerClient(acl_redis.url("orchestrator"), SANDBOX_QUEUE, signer=signer)
        assert signed.check(source, space).accepted
        unsigned = RunnerClient(acl_redis.url("orchestrator"), SANDBOX_QUEUE)
        with pytest.raises(SandboxUnavailable, match="refused: bad signature"):
            unsigned.check(source, space)
        signed.close()
        unsigned.close()
    finally:
        runner.terminate()
        runner.communicate(timeout=30)
