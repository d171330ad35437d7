"""The one seam the rest of the project uses to reach the sandbox.

Two clients, one interface (:class:`SandboxClient`):

- :class:`DirectClient` runs a backend in this process (``bilevel mechanism check``, tests,
  a single-host study without the runner service).
- :class:`RunnerClient` sends the same requests through Redis to ``bilevel sandbox-runner``,
  the only process that holds the Docker socket (DESIGN §2). The orchestrator uses it.

Both raise :class:`SandboxUnavailable` for infrastructure failures and return a verdict
(:class:`LadderReport`) or per-mechanism outputs (:class:`StageResult`) for everything a
mechanism can cause.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Literal, Protocol

from contract.hooks import Hook
from contract.jobs import SANDBOX_CALL_JOB, SANDBOX_JOB_ID_PREFIX, SANDBOX_LADDER_JOB, SANDBOX_QUEUE
from sandbox.answers import LadderReport, StageResult
from sandbox.backends import Backend, SandboxUnavailable, make_backend
from sandbox.ladder import CALL_DEADLINE_S, LADDER_DEADLINE_S, call_stage, run_ladder, space_dicts

DEFAULT_QUEUE = SANDBOX_QUEUE  # the queue `bilevel sandbox-runner` serves by default
# How long a caller waits for the runner beyond the sandbox's own deadline (queueing, a
# container start on a busy host) before it calls the runner missing.
RUNNER_SLACK_S = 30.0
RESULT_TTL_S = 300  # a finished job's result stays this long; the client deletes it on read
# Waiting for a result blocks on the socket for up to a whole deadline plus slack; redis-py's
# default read timeout (5 s) would turn a busy machine's slow ladder into "Redis unreachable".
CONNECT_TIMEOUT_S = 5.0

MechanismRef = tuple[str, str, str]  # (name, sha, source)
# Makes a job's signed ``meta`` from (job_id=, func=, kwargs=, index=): the orchestrator's
# contract.job_signing.signed_meta with its key and study bound in.
Signer = Callable[..., dict[str, Any]]


class SandboxClient(Protocol):
    """What the Level-2 host and the research sessions call."""

    def check(
        self,
        source: str,
        space: Any,
        *,
        replays: list[dict[str, Any]] | None = None,
        filename: str = "mechanism.py",
        iterations: int | None = None,
    ) -> LadderReport:
        """Run the whole ladder (gate, smoke, contract) on one module.

        ``space``: a ``contract.space.SearchSpace``, or a list of its params (or their dicts).
        ``iterations``: the study's length (the contract's long history is that long).
        """
        ...

    def call(
        self,
        stage: Hook,
        mechanisms: list[MechanismRef],
        context: dict[str, Any],
        candidates: list[dict[str, Any]] | None = None,
    ) -> StageResult:
        """Call one hook stage on a batch of promoted mechanisms."""
        ...

    def close(self) -> None:
        """Release what the client holds (a warm sandbox, a Redis connection)."""
        ...

    @property
    def isolation(self) -> str:
        """How strongly the sandbox isolates a module (``sandbox.backends.STRONG_ISOLATION``)."""
        ...


class DirectClient:
    """Runs the sandbox backend in this process."""

    def __init__(
        self,
        backend: Backend | str = "auto",
        *,
        limits: dict[str, float] | None = None,
        warm: bool = False,
    ) -> None:
        """``warm``: keep the next sandbox started ahead of time (long-lived callers)."""
        self.backend = make_backend(backend, warm=warm) if isinstance(backend, str) else backend
        self.limits = limits or {}

    @property
    def isolation(self) -> str:
        """How strongly this client's backend isolates a module (see STRONG_ISOLATION)."""
        return self.backend.isolation

    def check(
        self,
        source: str,
        space: Any,
        *,
        replays: list[dict[str, Any]] | None = None,
        filename: str = "mechanism.py",
        iterations: int | None = None,
    ) -> LadderReport:
        return run_ladder(
            source,
            space,
            backend=self.backend,
            replays=replays,
            filename=filename,
            limits=self.limits,
            iterations=iterations,
        )

    def call(
        self,
        stage: Hook,
        mechanisms: list[MechanismRef],
        context: dict[str, Any],
        candidates: list[dict[str, Any]] | None = None,
    ) -> StageResult:
        return call_stage(
            stage, mechanisms, context, candidates, backend=self.backend, limits=self.limits
        )

    def close(self) -> None:
        """Release the warm sandbox (a study calls this when it ends)."""
        self.backend.close()


class RunnerClient:
    """Sends requests to ``bilevel sandbox-runner`` over Redis (rq, JSON serializer)."""

    def __init__(
        self,
        redis_url: str,
        queue: str = DEFAULT_QUEUE,
        *,
        limits: dict[str, float] | None = None,
        signer: Signer | None = None,
    ) -> None:
        """``signer`` (the orchestrator's, holding the runners' job key) gives each job the
        ``meta`` that proves who sent it; without one, jobs go unsigned."""
        import redis
        from rq import Queue
        from rq.serializers import JSONSerializer

        longest_wait = max(LADDER_DEADLINE_S, CALL_DEADLINE_S) + RUNNER_SLACK_S
        self.connection = redis.Redis.from_url(
            redis_url, socket_connect_timeout=CONNECT_TIMEOUT_S, socket_timeout=longest_wait + 10
        )
        self.queue = Queue(queue, connection=self.connection, serializer=JSONSerializer)
        self.limits = limits or {}
        self.signer = signer
        self._isolation = "docker"

    @property
    def isolation(self) -> str:
        """The runner's backend: docker (``bilevel sandbox-runner``'s default) until the
        runner says otherwise in an answer; then what it last reported."""
        return self._isolation

    def _ask(self, job_name: str, payload: dict[str, Any], deadline_s: float) -> dict[str, Any]:
        import redis

        func = job_name  # the dotted job function (contract.jobs)
        job_id = f"{SANDBOX_JOB_ID_PREFIX}{uuid.uuid4().hex}"
        kwargs = {"payload": payload}
        context = payload.get("context")
        index = context.get("iteration") if isinstance(context, dict) else None
        meta = (
            self.signer(
                job_id=job_id,
                func=func,
                kwargs=kwargs,
                index=index if isinstance(index, int) else -1,
            )
            if self.signer
            else {}
        )
        try:
            job = self.queue.enqueue_call(
                job_name,
                kwargs=kwargs,
                # The prefix is what the stack's Redis ACL lets a sandbox runner touch.
                job_id=job_id,
                meta=meta,
                timeout=int(deadline_s + RUNNER_SLACK_S),
                result_ttl=RESULT_TTL_S,
                failure_ttl=RESULT_TTL_S,
            )
            result = job.latest_result(timeout=int(deadline_s + RUNNER_SLACK_S))
        except redis.RedisError as exc:
            raise SandboxUnavailable(f"Redis is unreachable for the sandbox queue: {exc}") from exc
        try:
            if result is None:
                job.cancel()
                raise SandboxUnavailable(
                    f"no sandbox runner answered on queue {self.queue.name!r} within "
                    f"{deadline_s + RUNNER_SLACK_S:g} s; start one with `bilevel sandbox-runner`"
                )
            if result.type != result.Type.SUCCESSFUL or not isinstance(result.return_value, dict):
                last = (result.exc_string or "no result").strip().splitlines()[-1:]
                raise SandboxUnavailable(f"the sandbox runner failed: {' '.join(last)}")
            return result.return_value
        finally:
            job.delete()

    def check(
        self,
        source: str,
        space: Any,
        *,
        replays: list[dict[str, Any]] | None = None,
        filename: str = "mechanism.py",
        iterations: int | None = None,
    ) -> LadderReport:
        payload = {
            "source": source,
            "space": space_dicts(space),
            "replays": replays or [],
            "filename": filename,
            "iterations": iterations,
            "limits": self.limits,
        }
        report = LadderReport.from_dict(self._ask(SANDBOX_LADDER_JOB, payload, LADDER_DEADLINE_S))
        self._isolation = report.isolation or self._isolation
        return report

    def call(
        self,
        stage: Hook,
        mechanisms: list[MechanismRef],
        context: dict[str, Any],
        candidates: list[dict[str, Any]] | None = None,
    ) -> StageResult:
        payload = {
            "stage": stage,
            "mechanisms": [list(m) for m in mechanisms],
            "context": context,
            "candidates": candidates,
            "limits": self.limits,
        }
        result = StageResult.from_dict(self._ask(SANDBOX_CALL_JOB, payload, CALL_DEADLINE_S))
        self._isolation = result.isolation or self._isolation
        return result

    def close(self) -> None:
        self.connection.close()


def make_client(
    kind: Literal["direct", "runner"] = "direct",
    backend: str = "auto",
    redis_url: str | None = None,
    queue: str = DEFAULT_QUEUE,
    *,
    limits: dict[str, float] | None = None,
    warm: bool = True,
    signer: Signer | None = None,
) -> SandboxClient:
    """The client for a deployment: ``direct`` (a backend here) or ``runner`` (via Redis).

    ``warm`` (direct only): keep one sandbox started ahead of the next call, so a study's
    hook calls do not wait for a container or interpreter start; each call still gets a
    fresh sandbox.
    """
    if kind == "direct":
        return DirectClient(backend, limits=limits, warm=warm)
    if kind == "runner":
        if not redis_url:
            raise ValueError(
                "the runner client needs a Redis URL (--redis-url or BILEVEL_REDIS_URL)"
            )
        return RunnerClient(redis_url, queue, limits=limits, signer=signer)
    raise ValueError(f"unknown sandbox client {kind!r}; use direct or runner")
