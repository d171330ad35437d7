"""Studies over the real Redis with real `bilevel worker` processes: kill -9 of the
orchestrator and resume, a killed worker, and a Redis restart mid-study."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import need
from tests.orchestrator.helpers import (
    assert_each_index_once,
    env,
    events,
    finished_indices,
    run_cli,
    start_worker,
    stop,
    study_args,
    wait_for,
)

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def cleanup_queue(redis_url: str, queue: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"rq:*{queue}*")) + list(client.scan_iter(f"*{queue}*"))
    if keys:
        client.delete(*keys)


@pytest.fixture
def workers(redis_url: str, unique_name: str) -> Iterator[tuple[str, str]]:
    procs = [start_worker(unique_name, redis_url) for _ in range(2)]
    yield redis_url, unique_name
    for proc in procs:
        stop(proc)
    cleanup_queue(redis_url, unique_name)


def rq_args(out: Path, redis_url: str, queue: str, *extra: str) -> list[str]:
    study = out.parent / "rq.toml"
    study.write_text(
        f'name = "{queue}"\niterations = 4\nexecutor = "rq"\nparallel = 2\n'
        f'[rq]\nredis_url = "{redis_url}"\nqueue = "{queue}"\n'
        # The subject is resume and worker faults, not acceptance: one trial per index.
        '[acceptance]\nrule = "strict"\n'
    )
    return study_args(out, *extra, study=str(study))


def test_kill9_orchestrator_then_resume_runs_every_index_once(
    tmp_path: Path, workers: tuple[str, str]
) -> None:
    redis_url, queue = workers
    out = tmp_path / "run"
    proc = subprocess.Popen(rq_args(out, redis_url, queue), env=env(), stdout=subprocess.DEVNULL)
    try:
        wait_for(lambda: len(finished_indices(out)) >= 2, 180, "two finished trials")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        stop(proc)
    before = {e["index"]: e["result"]["val_bpb"] for e in events(out, "trial_finished")}
    done = run_cli(rq_args(out, redis_url, queue, "--resume"), timeout=300)
    assert done.returncode == 0, done.stderr
    assert_each_index_once(out, 4)
    after = {e["index"]: e["result"]["val_bpb"] for e in events(out, "trial_finished")}
    assert all(after[i] == v for i, v in before.items())  # nothing finished was redone
    assert [e["resumed"] for e in events(out, "study_started")] == [False, True]


def test_killed_worker_costs_at_most_that_trial(tmp_path: Path, workers: tuple[str, str]) -> None:
    import redis
    from rq import Queue
    from rq.serializers import JSONSerializer

    redis_url, queue = workers
    out = tmp_path / "run"
    proc = subprocess.Popen(rq_args(out, redis_url, queue), env=env(), stdout=subprocess.DEVNULL)
    try:
        q = Queue(queue, connection=redis.Redis.from_url(redis_url), serializer=JSONSerializer)
        victim: dict[str, int] = {}

        def training_started() -> bool:
            for job_id in q.started_job_registry.get_job_ids():
                job = q.fetch_job(job_id)
                pid = (job.meta.get("progress") or {}).get("pid") if job else None
                if pid:
                    victim["pid"] = pid
                    return True
            return False

        wait_for(training_started, 120, "a trial to start training")
        # The rq work-horse is the trial child's parent: kill both, as an OOM kill would.
        stat = Path(f"/proc/{victim['pid']}/stat").read_text()
        horse = int(stat.rsplit(")", 1)[1].split()[1])
        for pid in (horse, victim["pid"]):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=300)
    finally:
        stop(proc)
    assert proc.returncode == 0
    assert_each_index_once(out, 4)
    retried = [e for e in events(out, "trial_finished") if e["attempts"] == 2]
    assert len(retried) == 1 and retried[0]["result"]["status"] == "ok"  # re-run once, not lost


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip


@pytest.mark.xdist_group("private-redis")  # its own redis-server, restarted on its port
def test_redis_restart_mid_study_loses_no_finished_trial(tmp_path: Path, unique_name: str) -> None:
    need(shutil.which("redis-server") is not None, "redis-server is not installed")
    port = free_port()
    redis_url = f"redis://127.0.0.1:{port}/0"
    server = start_redis(port)
    procs = []
    out = tmp_path / "run"
    try:
        time.sleep(0.5)
        procs = [start_worker(unique_name, redis_url) for _ in range(2)]
        proc = subprocess.Popen(
            rq_args(out, redis_url, unique_name), env=env(), stdout=subprocess.DEVNULL
        )
        procs.append(proc)
        wait_for(lambda: len(finished_indices(out)) >= 1, 180, "one finished trial")
        before = {e["index"]: e["result"]["val_bpb"] for e in events(out, "trial_finished")}
        stop(server)  # everything in Redis is gone: queue, jobs, results
        time.sleep(2)
        server = start_redis(port)
        time.sleep(0.5)
        for i, worker in enumerate(procs[:2]):  # a worker that exited on the outage restarts
            if worker.poll() is not None:
                procs[i] = start_worker(unique_name, redis_url)
        proc.wait(timeout=300)
        print(f"orchestrator exit after the Redis restart: {proc.returncode}")
        if proc.returncode != 0:  # not survived: resumed instead
            done = run_cli(rq_args(out, redis_url, unique_name, "--resume"), timeout=300)
            assert done.returncode == 0, done.stderr
    finally:
        for p in procs:
            stop(p)
        stop(server)
    assert_each_index_once(out, 4)
    after = {e["index"]: e["result"]["val_bpb"] for e in events(out, "trial_finished")}
    assert all(after[i] == v for i, v in before.items())
