"""`parallel = "auto"`: the study keeps one trial more in flight than there are live trainer
workers, and follows a worker that joins mid-study (real Redis, real `bilevel worker`s)."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from orchestrator.config import StudyConfig
from orchestrator.errors import UserError
from orchestrator.executor import InlineExecutor, RqExecutor
from orchestrator.journal import read_events
from tests.orchestrator.helpers import (
    CLI,
    assert_each_index_once,
    env,
    finished_indices,
    start_worker,
    stop,
    wait_for,
)
from tests.orchestrator.test_study_rq import cleanup_queue

# Simulated trial length: long enough that trials overlap visibly, short enough that the
# study (14 trials on one, then two workers) ends in ~30 s.
TRIAL_DELAY_S = 1.5
ITERATIONS = 14

STUDY = """name = "{queue}"
iterations = {iterations}
executor = "rq"
parallel = "auto"
[objective]
kind = "benchmark"
benchmark = "branin"
delay_s = {delay}
[levels]
policy = false
research = false
[rq]
redis_url = "{redis_url}"
queue = "{queue}"
"""


def test_parallel_defaults_to_auto_and_rejects_anything_else() -> None:
    base = {"name": "p", "iterations": 2}
    config = StudyConfig.from_dict(base)
    assert config.parallel == "auto"
    assert config.parallel_trials() == 1  # what timing code sees without a live executor
    assert InlineExecutor().useful_in_flight() == 1  # inline "auto" is today's sequential loop
    assert StudyConfig.from_dict({**base, "parallel": 3}).parallel_trials() == 3
    assert config.with_overrides(parallel=2).parallel == 2  # --parallel N still wins
    for bad in (0, -1, "many", "3", 2.5, True):
        with pytest.raises(UserError, match=r"'parallel'.*positive number.*\"auto\""):
            StudyConfig.from_dict({**base, "parallel": bad})


def in_flight_at_each_proposal(events: list[dict[str, Any]]) -> list[tuple[datetime, int]]:
    """(when, trials in flight right after it) for every trial_proposed, from the journal."""
    running: set[int] = set()
    out: list[tuple[datetime, int]] = []
    for event in events:
        if event["type"] == "trial_proposed":
            running.add(event["index"])
            out.append((datetime.fromisoformat(event["ts"]), len(running)))
        elif event["type"] == "trial_finished":
            running.discard(event["index"])
    return out


@pytest.mark.redis
@pytest.mark.slow
def test_auto_keeps_workers_plus_one_in_flight_and_follows_a_joining_worker(
    tmp_path: Path, redis_url: str, unique_name: str
) -> None:
    queue = unique_name
    counter = RqExecutor(redis_url, queue)
    workers = [start_worker(queue, redis_url)]
    study = tmp_path / "study.toml"
    study.write_text(
        STUDY.format(queue=queue, iterations=ITERATIONS, delay=TRIAL_DELAY_S, redis_url=redis_url)
    )
    out = tmp_path / "run"
    proc: subprocess.Popen[bytes] | None = None
    try:
        wait_for(lambda: counter.live_workers() == 1, 60, "the first worker to register")
        assert counter.useful_in_flight() == 2
        proc = subprocess.Popen(
            [*CLI, "study", str(study), "--out", str(out), "--plain"],
            env=env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        wait_for(lambda: len(finished_indices(out)) >= 2, 60, "two trials on one worker")
        workers.append(start_worker(queue, redis_url))
        wait_for(lambda: counter.live_workers() == 2, 60, "the second worker to register")
        joined = datetime.now(UTC)
        assert proc.poll() is None, "the study ended before the second worker joined"
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr.decode()[-2000:]
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        for worker in workers:
            stop(worker)
        counter.close()
        cleanup_queue(redis_url, queue)
    assert_each_index_once(out, ITERATIONS)
    proposals = in_flight_at_each_proposal(read_events(out / "events.jsonl"))
    # One worker: 2 in flight (the spare is planned while the other trains), never more.
    alone = [n for when, n in proposals if when < joined]
    assert max(alone) == 2, proposals
    # Two workers: the study followed the one that joined, up to 3 in flight.
    assert max(n for when, n in proposals if when >= joined) == 3, proposals
