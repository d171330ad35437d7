"""How much trainer time the study loop wastes between trials. Target: under 2% idle.

Runs real studies over the real Redis with real `bilevel worker` processes and real (tiny)
trials; the LLM is the fake OpenAI-compatible server answering after a realistic delay.
For each worker count W it runs the study twice: ``parallel = W`` (a trial is planned only
when a worker frees up, so every LLM call is idle time) and ``parallel = W + 1`` (one trial
planned ahead and queued, the recommended setting). Idle time per worker is the sum of
gaps between one job's end and its next job's start, from rq's own timestamps; the idle
fraction is idle time over each worker's span from first start to last end.

    .venv/bin/python benchmarks/study_overhead.py [--trials 8] [--llm-delay 1.5]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from orchestrator.journal import read_events  # noqa: E402
from tests.support.fake_llm import FakeLLM, default_level1, default_level15  # noqa: E402

REDIS_URL = os.environ.get("BILEVEL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
# A hosted model answers a ~2k-token Level-1 prompt in about this long.
DEFAULT_LLM_DELAY_S = 1.5
# Tiny trials make overhead visible: one optimizer step of cpu-tiny, ~5 s with start-up.
TRIAL_TOKENS = 8192
DEFAULT_TRIALS = 8
TARGET_IDLE = 0.02


def run(workers: int, parallel: int, trials: int, delay: float) -> float:
    queue = f"bench-overhead-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cli = [sys.executable, "-m", "orchestrator.cli"]
    procs = [
        subprocess.Popen(
            [*cli, "worker", "--queue", queue, "--redis-url", REDIS_URL],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(workers)
    ]
    try:
        with FakeLLM() as llm, tempfile.TemporaryDirectory() as tmp:
            llm.default("level1", lambda body, n: _delayed(default_level1(body, n), delay))
            llm.default("level15", lambda body, n: _delayed(default_level15(body, n), delay))
            study = Path(tmp) / "bench.toml"
            study.write_text(
                f'name = "{queue}"\niterations = {trials}\nexecutor = "rq"\n'
                f"parallel = {parallel}\n"
                f'[objective]\nbudget_mode = "tokens"\nbudget = {TRIAL_TOKENS}\n'
                f'[llm]\nprovider = "openai"\nbase_url = "{llm.base_url}"\nmodel = "fake"\n'
                f'[rq]\nredis_url = "{REDIS_URL}"\nqueue = "{queue}"\n'
            )
            out = Path(tmp) / "run"
            subprocess.run(
                [*cli, "study", str(study), "--out", str(out), "--plain"],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            return idle_fraction(out, queue)
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        _cleanup(queue)


def _delayed(reply, delay: float):  # type: ignore[no-untyped-def]
    reply.delay_s = delay
    return reply


def idle_fraction(run_dir: Path, queue: str) -> float:
    import redis
    from rq.job import Job
    from rq.serializers import JSONSerializer

    from orchestrator.executor import job_id_for
    from trainer.spec import TrialSpec

    conn = redis.Redis.from_url(REDIS_URL)
    spans: dict[str, list[tuple[float, float]]] = {}
    for event in read_events(run_dir / "events.jsonl"):
        if event["type"] != "trial_finished":
            continue
        spec = TrialSpec.model_validate(event["result"]["spec"])
        job = Job.fetch(
            job_id_for(spec, event.get("attempts", 1)), connection=conn, serializer=JSONSerializer
        )
        results = list(job.results())
        worker = (results[0].worker_name if results else "") or job.worker_name or "?"
        spans.setdefault(worker, []).append((job.started_at.timestamp(), job.ended_at.timestamp()))
    idle = busy_span = 0.0
    for intervals in spans.values():
        intervals.sort()
        busy_span += intervals[-1][1] - intervals[0][0]
        idle += sum(max(0.0, b[0] - a[1]) for a, b in itertools.pairwise(intervals))
    return idle / busy_span if busy_span else 0.0


def _cleanup(queue: str) -> None:
    import redis

    conn = redis.Redis.from_url(REDIS_URL)
    keys = list(conn.scan_iter(f"*{queue}*"))
    if keys:
        conn.delete(*keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=DEFAULT_TRIALS)
    parser.add_argument("--llm-delay", type=float, default=DEFAULT_LLM_DELAY_S)
    args = parser.parse_args()
    rows = []
    for workers in (1, 2):
        for parallel in (workers, workers + 1):
            started = time.monotonic()
            frac = run(workers, parallel, args.trials, args.llm_delay)
            rows.append(
                {
                    "workers": workers,
                    "parallel": parallel,
                    "idle_fraction": round(frac, 4),
                    "target": TARGET_IDLE,
                    "meets_target": frac < TARGET_IDLE,
                    "wall_s": round(time.monotonic() - started, 1),
                }
            )
            print(
                f"workers={workers} parallel={parallel} idle={frac:.2%} "
                f"(target < {TARGET_IDLE:.0%}, {'ok' if frac < TARGET_IDLE else 'MISSED'}) "
                f"wall={rows[-1]['wall_s']}s",
                flush=True,
            )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
