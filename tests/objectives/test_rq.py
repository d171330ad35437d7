"""Function, command and benchmark objectives over the real Redis with a real `bilevel worker`:
the spec carries the objective as JSON (names and paths, never code) and the worker runs it."""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.journal import read_events
from tests.objectives.test_cli import SPACE_TOML, USER_CODE
from tests.orchestrator.helpers import CLI, run_cli, start_worker, stop

# One rq worker serves the whole module (its fixture): its tests share one xdist worker,
# so the worker process starts once.
pytestmark = [pytest.mark.redis, pytest.mark.xdist_group("objectives-worker")]

OBJECTIVES = {
    "function": 'kind = "function"\ntarget = "userobj:score"\nmetric = "acc"\ndirection = "maximize"',
    "command": 'kind = "command"\ncommand = ["python", "userobj.py"]\nmetric = "val_loss"',
    "benchmark": 'kind = "benchmark"\nbenchmark = "branin"',
}


@pytest.fixture(scope="module")
def worker(redis_url: str) -> Iterator[tuple[str, str]]:
    queue = f"objectives-{uuid.uuid4().hex[:8]}"
    proc = start_worker(queue, redis_url)
    yield redis_url, queue
    stop(proc)
    import redis

    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"*{queue}*"):
        client.delete(key)


@pytest.mark.parametrize("kind", sorted(OBJECTIVES))
def test_a_worker_runs_every_objective_kind(
    tmp_path: Path, worker: tuple[str, str], kind: str
) -> None:
    redis_url, queue = worker
    (tmp_path / "userobj.py").write_text(textwrap.dedent(USER_CODE))
    space = "" if kind == "benchmark" else SPACE_TOML
    study = tmp_path / "study.toml"
    study.write_text(
        f'name = "rq-{kind}"\niterations = 4\nexecutor = "rq"\nparallel = 2\n'
        f"[objective]\n{OBJECTIVES[kind]}\n{space}\n"
        f'[rq]\nredis_url = "{redis_url}"\nqueue = "{queue}"\n'
    )
    out = tmp_path / "run"
    done = run_cli([*CLI, "study", str(study), "--out", str(out), "--plain"], timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    finished = [e for e in read_events(out / "events.jsonl") if e["type"] == "trial_finished"]
    assert sorted(e["index"] for e in finished) == [0, 1, 2, 3]
    results = [e["result"] for e in finished]
    assert all(r["status"] == "ok" for r in results), [r["error"] for r in results]
    assert {r["metric"] for r in results} == {"acc" if kind == "function" else
                                              "val_loss" if kind == "command" else "f"}  # fmt: skip
    # What went over Redis defined the objective by name and path, as JSON.
    assert all(r["spec"]["objective"]["kind"] == kind for r in results)
