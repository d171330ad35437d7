"""Trial executors: where a :class:`TrialSpec` becomes a :class:`TrialResult`.

- :class:`InlineExecutor` runs ``trainer.supervise.run_supervised`` (the trial in a local
  child process) on a thread per trial, for machines without Redis.
- :class:`RqExecutor` enqueues ``trainer.jobs.run_trial`` on an rq queue with the JSON
  serializer; any number of trainer workers on any hosts take trials from it. Dispatch is
  asynchronous: the loop keeps ``parallel`` trials in flight and plans the next trial while
  they run, so no worker waits for another. With ``parallel = "auto"`` that is the live
  workers on the queue + 1 (:meth:`RqExecutor.useful_in_flight`), re-counted as they come and go.

A trial whose worker dies is re-run once, then recorded as ``crashed``; the study loop
records exactly one ``trial_finished`` per index, so an index is never lost or duplicated.
How fast a death is seen depends on what died: a killed work-horse (the process running
the trial, e.g. OOM-killed) is reported by its worker at once; a `bilevel worker` killed
outright (host lost) is seen when its heartbeat stops moving, about 25 s later
(:mod:`orchestrator.worker_watch`); a plain rq worker when its rq heartbeat expires, about
90 s later, through the started-job registry's cleanup. A worker parent killed alone does
not cost the trial: rq's work-horse finishes it. While trials wait and no live worker
serves the queue, :meth:`RqExecutor.notice` says so every few seconds, with how long.

A code trial (a spec with a recipe patch) may go to a queue of its own (``code_queue_name``:
on the compose stack only the opt-in ``code-trainer`` can jail a recipe). When that queue
differs from the trial queue and no live worker serves it, the code trial is refused at once
with the fix in its error, rather than left waiting for a worker the stack never started.
"""

from __future__ import annotations

import contextlib
import os
import queue as queue_mod
import re
import signal
import threading
import time
from typing import Protocol, runtime_checkable

from pydantic import ValidationError

from contract.job_signing import TRIAL_KEY_ENV, JobKeyError, load_key, signed_meta
from contract.jobs import CODE_TRIAL_JOB_ID_PREFIX, TRIAL_JOB, TRIAL_JOB_ID_PREFIX
from contract.progress import PID
from orchestrator.errors import UserError
from orchestrator.worker_watch import WaitNotice, WorkerWatch
from trainer.spec import TrialResult, TrialSpec

# A worker death is retried once (a worker may die of its own
# causes: an out-of-memory kill, a restart): a second death is the trial's fault.
MAX_ATTEMPTS = 2
# How often started jobs are checked for a dead worker (rq's expired-heartbeat cleanup).
DEAD_WORKER_CHECK_S = 5.0
# Markers in an rq failure that mean the worker process died, not that the trial failed.
WORKER_DEATH_MARKERS = ("Work-horse terminated unexpectedly", "AbandonedJobError")
# parallel = "auto" keeps this many trials beyond the live workers: the spare one is planned
# while the others train, so a worker never waits for the LLM (benchmarks/study_overhead.py).
AUTO_SPARE_TRIALS = 1
# The loop asks for the in-flight limit on every turn; live workers are re-counted at most this
# often, so a worker that joins is followed within ~2 s without a Redis round-trip per turn.
WORKER_COUNT_TTL_S = 1.5
# Where a waiting code trial's worker comes from on the compose stack.
CODE_WORKER_STACK_HINT = "the compose stack: `CODE_TRIALS=1 make up`"
# What a code trial with no worker on its own queue is told: how to start one.
NO_CODE_WORKER_FIX = (
    "start the compose stack with code trials (`CODE_TRIALS=1 make up`, or "
    "`deploy/stack.sh up --code-trials`), or run `bilevel worker --queue {queue}` on a host "
    "with bubblewrap"
)


# A trial's latest progress report, as its trainer sent it: keys in :mod:`contract.progress`,
# values unchecked (a user's command reports what it likes), so a reader narrows each one.
Progress = dict[str, object]


@runtime_checkable
class Executor(Protocol):
    def submit(self, spec: TrialSpec) -> None:
        """Start a trial; never blocks on training."""
        ...

    def wait(self, timeout: float) -> list[TrialResult]:
        """Results that finished since the last call, waiting up to ``timeout`` s for one."""
        ...

    def in_flight(self) -> list[int]:
        """Indices of submitted trials without a result yet."""
        ...

    def progress(self) -> dict[int, Progress]:
        """Latest progress report per in-flight index: the trainer's dict as it sent it (keys
        in :mod:`trainer.progress`: ``phase``, ``pid``, ``step``, ``loss``, ``elapsed_s``,
        ``progress``...)."""
        ...

    def attempts(self, index: int) -> int:
        """How many times trial ``index`` was dispatched (2 after a worker death)."""
        ...

    def stop(self, index: int) -> bool:
        """End in-flight trial ``index`` now (pruning) and free its trainer: its result never
        comes back from :meth:`wait`. False when it was not in flight here."""
        ...

    def useful_in_flight(self) -> int:
        """How many trials are worth keeping in flight now (what ``parallel = "auto"`` uses);
        at least 1."""
        ...

    def notice(self) -> str | None:
        """A line for the user when trials wait on something they must fix (no live
        worker), at most every few seconds; None otherwise."""
        ...

    def close(self) -> None: ...


def _crashed(spec: TrialSpec, why: str) -> TrialResult:
    return TrialResult.failed(spec, "crashed", why)


class InlineExecutor:
    """Each trial in a local child process (via ``run_supervised``), one thread per trial."""

    def __init__(self) -> None:
        self._done: queue_mod.Queue[TrialResult] = queue_mod.Queue()
        self._running: dict[int, threading.Thread] = {}
        self._progress: dict[int, Progress] = {}
        self._stopped: set[int] = set()
        self._lock = threading.Lock()

    def submit(self, spec: TrialSpec) -> None:
        thread = threading.Thread(
            target=self._run, args=(spec,), name=f"trial-{spec.index}", daemon=True
        )
        with self._lock:
            self._running[spec.index] = thread
        thread.start()

    def _run(self, spec: TrialSpec) -> None:
        from trainer.supervise import run_supervised

        def on_progress(progress: Progress) -> None:
            with self._lock:  # merged: an eval-phase update has no loss, keep the last one
                self._progress.setdefault(spec.index, {}).update(progress)

        try:
            result = run_supervised(spec, on_progress=on_progress)
        except Exception as exc:  # the supervisor itself failed: the trial is lost, not the study
            result = _crashed(spec, f"supervisor error: {type(exc).__name__}: {exc}")
        self._done.put(result)

    def wait(self, timeout: float) -> list[TrialResult]:
        results: list[TrialResult] = []
        try:
            results.append(self._done.get(timeout=max(timeout, 0.0)))
            while True:
                results.append(self._done.get_nowait())
        except queue_mod.Empty:
            pass
        with self._lock:
            for result in results:
                self._running.pop(result.spec.index, None)
                self._progress.pop(result.spec.index, None)
            kept = [r for r in results if r.spec.index not in self._stopped]
            self._stopped -= {r.spec.index for r in results}
        return kept

    def in_flight(self) -> list[int]:
        with self._lock:
            return sorted(self._running)

    def progress(self) -> dict[int, Progress]:
        with self._lock:
            return {i: dict(p) for i, p in self._progress.items()}

    def attempts(self, index: int) -> int:
        return 1

    def useful_in_flight(self) -> int:
        # Trials share this machine's cores: "auto" keeps the sequential loop it always had.
        return 1

    def notice(self) -> str | None:
        return None  # trials run here: there is no worker to wait for

    def stop(self, index: int) -> bool:
        """Kill trial ``index``'s child; its supervisor thread's result is dropped."""
        with self._lock:
            if index not in self._running:
                return False
            pid = self._progress.get(index, {}).get(PID)
            self._running.pop(index, None)
            self._progress.pop(index, None)
            self._stopped.add(index)
        _kill_trial_process(pid)
        return True

    def close(self) -> None:
        """End trials still running (an interrupted study): a resumed study re-runs them,
        so an orphaned child would only burn the CPU the next run needs."""
        with self._lock:
            pids = [p.get(PID) for i, p in self._progress.items() if i in self._running]
        for pid in pids:
            _kill_trial_process(pid)


def _kill_trial_process(pid: object) -> None:
    if not isinstance(pid, int):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        # A command objective runs in its own process group: end its children too.
        # Anything else (the training child) shares ours: only itself.
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)


def job_id_for(spec: TrialSpec, attempt: int) -> str:
    """Deterministic rq job id: a resumed study finds the jobs it enqueued before. The
    ``trial-`` prefix is what the stack's Redis ACL lets a trainer touch
    (deploy/redis-entrypoint.sh); a code trial's ``codetrial-`` prefix is the code
    trainer's."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", spec.trial_id)
    prefix = CODE_TRIAL_JOB_ID_PREFIX if spec.patch else TRIAL_JOB_ID_PREFIX
    return f"{prefix}{safe}-a{attempt}"


class RqExecutor:
    """Trials as rq jobs on ``queue_name`` (code trials on ``code_queue_name``, by default
    the same queue); survives Redis blips by retrying next poll."""

    def __init__(self, redis_url: str, queue_name: str, code_queue_name: str | None = None) -> None:
        from redis import Redis
        from rq import Queue
        from rq.serializers import JSONSerializer

        try:
            self._key = load_key(TRIAL_KEY_ENV)  # signs every trial job; None: unsigned
        except JobKeyError as exc:
            raise UserError(str(exc)) from None
        self._redis = Redis.from_url(redis_url, socket_connect_timeout=5, socket_timeout=30)
        self._serializer = JSONSerializer
        self._queue = Queue(queue_name, connection=self._redis, serializer=JSONSerializer)
        self._code_queue = self._queue
        if code_queue_name and code_queue_name != queue_name:
            self._code_queue = Queue(
                code_queue_name, connection=self._redis, serializer=JSONSerializer
            )
        self._code_watch = WorkerWatch()
        self._refused: list[TrialResult] = []
        self._jobs: dict[int, tuple[TrialSpec, int]] = {}  # index -> (spec, attempt)
        self._progress: dict[int, Progress] = {}
        self._attempts: dict[int, int] = {}
        self._last_dead_check = 0.0
        self._live_workers = 0
        self._workers_counted_at = -WORKER_COUNT_TTL_S
        self._watch = WorkerWatch()
        self._alive: dict[str, bool] = {}  # worker name -> alive, as of the last check
        self._wait_notice = WaitNotice()
        self._code_wait_notice = WaitNotice(stack_hint=CODE_WORKER_STACK_HINT)
        self._plain_alive: dict[str, bool] = {}  # the trial queue's workers alone
        self._code_alive: dict[str, bool] = {}  # the code queue's workers alone
        self.redis_errors = 0

    def ping(self) -> None:
        self._redis.ping()

    def submit(self, spec: TrialSpec) -> None:
        """Enqueue, or adopt a job a previous orchestrator run already enqueued."""
        from rq.job import Job

        for attempt in range(MAX_ATTEMPTS, 0, -1):
            if Job.exists(job_id_for(spec, attempt), connection=self._redis):
                self._jobs[spec.index] = (spec, attempt)
                self._attempts[spec.index] = attempt
                return
        if spec.patch and self._code_queue is not self._queue and not self._live_code_workers():
            fix = NO_CODE_WORKER_FIX.format(queue=self._code_queue.name)
            self._refused.append(
                TrialResult.failed(
                    spec,
                    "invalid",
                    f"no code-trial worker serves queue {self._code_queue.name!r}: {fix}",
                )
            )
            return
        self._enqueue(spec, 1)

    def _live_code_workers(self) -> int:
        return sum(self._code_watch.alive(self._redis, self._code_queue).values())

    def _enqueue(self, spec: TrialSpec, attempt: int) -> None:
        from trainer.jobs import enqueue_trial

        job_id = job_id_for(spec, attempt)
        enqueue_trial(
            self._code_queue if spec.patch else self._queue,
            spec,
            job_id=job_id,
            # Signed for the trainers (contract/job_signing.py): the trial's id names its
            # study, and a rewritten payload, id or index no longer matches.
            meta=signed_meta(
                self._key,
                job_id=job_id,
                func=TRIAL_JOB,
                args=[spec.model_dump(mode="json")],
                study=spec.trial_id,
                index=spec.index,
            ),
            description=f"trial {spec.index} ({spec.trial_id}) attempt {attempt}",
        )
        self._jobs[spec.index] = (spec, attempt)
        self._attempts[spec.index] = attempt

    def wait(self, timeout: float) -> list[TrialResult]:
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            try:
                results, self._refused = self._refused + self._poll(), []
            except Exception as exc:  # Redis down or restarting: keep the trials, try again
                if not _is_redis_error(exc):
                    raise
                self.redis_errors += 1
                results = []
            if results or time.monotonic() >= deadline:
                return results
            time.sleep(min(0.1, max(deadline - time.monotonic(), 0.0)))

    def _poll(self) -> list[TrialResult]:
        from rq.exceptions import NoSuchJobError
        from rq.job import Job, JobStatus

        self._maybe_clean_abandoned()
        results: list[TrialResult] = []
        for index, (spec, attempt) in list(self._jobs.items()):
            try:
                job = Job.fetch(
                    job_id_for(spec, attempt), connection=self._redis, serializer=self._serializer
                )
            except NoSuchJobError:  # Redis lost it (restart without persistence): enqueue again
                self._enqueue(spec, attempt)
                continue
            status = job.get_status(refresh=False)
            if status == JobStatus.FINISHED:
                results.append(self._finished(spec, job.return_value()))
            elif status in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
                latest = job.latest_result()
                error = ((latest.exc_string if latest else None) or f"job {status.value}").strip()
                if attempt < MAX_ATTEMPTS and any(m in error for m in WORKER_DEATH_MARKERS):
                    self._enqueue(spec, attempt + 1)
                    continue
                why = "worker died twice" if attempt >= MAX_ATTEMPTS else "trial job failed"
                results.append(_crashed(spec, f"{why}: {error.splitlines()[-1][:500]}"))
            elif status == JobStatus.STARTED and self._alive.get(job.worker_name or "") is False:
                # Its worker stopped heartbeating: killed, or its host lost. Re-run it now
                # rather than when rq's own TTL runs out (a minute and more).
                silent = self._silent_for(job.worker_name or "")
                error = f"AbandonedJobError: worker {job.worker_name} silent for {silent:.0f} s"
                if attempt < MAX_ATTEMPTS:
                    self._enqueue(spec, attempt + 1)
                    continue
                results.append(_crashed(spec, f"worker died twice: {error}"))
            else:
                progress = job.meta.get("progress")
                if isinstance(progress, dict):
                    self._progress.setdefault(index, {}).update(progress)
                continue
            self._jobs.pop(index, None)
            self._progress.pop(index, None)
        return results

    def _finished(self, spec: TrialSpec, value: object) -> TrialResult:
        try:
            return TrialResult.model_validate(value)
        except ValidationError as exc:
            return _crashed(spec, f"worker returned an unreadable result: {exc}")

    def _maybe_clean_abandoned(self) -> None:
        """Move jobs whose worker stopped heartbeating to failed (rq's AbandonedJobError)."""
        now = time.monotonic()
        if now - self._last_dead_check < DEAD_WORKER_CHECK_S:
            return
        self._last_dead_check = now
        self._alive = self._all_alive()
        self._queue.started_job_registry.cleanup()
        if self._code_queue is not self._queue:
            self._code_queue.started_job_registry.cleanup()

    def _all_alive(self) -> dict[str, bool]:
        alive = self._plain_alive = self._watch.alive(self._redis, self._queue)
        if self._code_queue is not self._queue:
            self._code_alive = self._code_watch.alive(self._redis, self._code_queue)
            alive = {**alive, **self._code_alive}
        return alive

    def _silent_for(self, name: str) -> float:
        return max(self._watch.silent_for(name), self._code_watch.silent_for(name))

    def in_flight(self) -> list[int]:
        return sorted({*self._jobs, *(refused.spec.index for refused in self._refused)})

    def attempts(self, index: int) -> int:
        return self._attempts.get(index, 1)

    def stop(self, index: int) -> bool:
        """Stop trial ``index``'s job: a started one through rq's stop-job command (its
        worker kills the work-horse's process group, the training child with it; the job
        ends ``stopped``), a queued one is cancelled. Forgotten here either way, so its
        outcome never comes back from :meth:`wait`. A Redis error leaves the job to finish
        on its own (its result is then ignored) rather than fail the study."""
        from rq.command import send_stop_job_command
        from rq.exceptions import InvalidJobOperation, NoSuchJobError
        from rq.job import Job, JobStatus

        entry = self._jobs.pop(index, None)
        self._progress.pop(index, None)
        if entry is None:
            return False
        job_id = job_id_for(*entry)
        try:
            job = Job.fetch(job_id, connection=self._redis, serializer=self._serializer)
            if job.get_status(refresh=False) == JobStatus.STARTED:
                send_stop_job_command(self._redis, job_id, serializer=self._serializer)
            else:
                job.cancel()
        except (NoSuchJobError, InvalidJobOperation):
            pass  # finished or gone meanwhile: nothing left to stop
        except Exception as exc:  # only Redis outages are absorbed: anything else is re-raised
            if not _is_redis_error(exc):
                raise
            self.redis_errors += 1
        return True

    def useful_in_flight(self) -> int:
        """Live workers listening on the queue + 1 (1 before any worker starts); a Redis blip
        keeps the last count."""
        now = time.monotonic()
        if now - self._workers_counted_at >= WORKER_COUNT_TTL_S:
            self._workers_counted_at = now
            try:
                self._live_workers = self.live_workers()
            except Exception as exc:  # only Redis outages are absorbed: anything else is re-raised
                if not _is_redis_error(exc):
                    raise
                self.redis_errors += 1
        return self._live_workers + AUTO_SPARE_TRIALS

    def live_workers(self) -> int:
        """Workers registered on the queue that are alive: a worker that stops cleanly
        leaves at once; a `bilevel worker` killed outright once its heartbeat stops moving
        (:mod:`orchestrator.worker_watch`), a plain rq worker when its key expires."""
        self._alive = self._all_alive()
        return sum(self._alive.values())

    def notice(self) -> str | None:
        """Every few seconds while trials are in flight and no live worker serves the
        queue: that, with how long they have waited (a study never hangs silently)."""
        if self._code_queue is self._queue:
            live = sum(self._alive.values())
            return self._wait_notice.update(len(self._jobs), live, self._queue.name)
        # Each queue on its own: live trainers do not serve a code trial (its worker may
        # have died after the trial was enqueued), nor a code-trainer a plain one.
        code = sum(1 for spec, _ in self._jobs.values() if spec.patch)
        code_live = sum(self._code_alive.values())
        plain_live = sum(self._plain_alive.values())
        return self._wait_notice.update(
            len(self._jobs) - code, plain_live, self._queue.name
        ) or self._code_wait_notice.update(code, code_live, self._code_queue.name)

    def progress(self) -> dict[int, Progress]:
        return {i: dict(p) for i, p in self._progress.items()}

    def close(self) -> None:
        # In-flight jobs stay queued on purpose: a resumed study adopts them.
        self._redis.close()


def _is_redis_error(exc: BaseException) -> bool:
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return isinstance(exc, RedisConnectionError | RedisTimeoutError | OSError)


def make_executor(
    kind: str, *, redis_url: str, queue_name: str, code_queue_name: str | None = None
) -> Executor:
    if kind == "inline":
        return InlineExecutor()
    if kind == "rq":
        return RqExecutor(redis_url, queue_name, code_queue_name)
    raise ValueError(f"unknown executor {kind!r}; choose inline or rq")
