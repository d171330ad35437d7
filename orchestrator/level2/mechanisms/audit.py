"""Live audits (DESIGN §4.3 step 5): a mechanism's live calls replayed in a fresh sandbox.

The contract tests cannot prove that a module behaves the same way live: a module may find
some difference the tests missed and behave only while tested. So the host replays live
calls too: every new mechanism's first :data:`AUDIT_FIRST_CALLS` calls, then a sample
(:data:`AUDIT_SAMPLE_RATE` of the rest, drawn from operating-system entropy, so a module
cannot know which calls are checked). A replay is the same hook, on the same context and
candidates, in a fresh sandbox: a pure function of its arguments gives the same answer. An
answer that differs (a clock, a process id, an address, an unseeded generator, anything
that is not the context) is reported, and the host reverts the mechanism at the next
iteration boundary with the reason journaled (``breaker = "audit"``).

Replays run on a background thread, off the planning path: a study never waits for an
audit. A replay that fails (a timeout on a busy machine, the sandbox restarting) proves
nothing and is dropped; only two valid answers that differ count.
"""

from __future__ import annotations

import json
import logging
import queue as queue_mod
import random
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from orchestrator.level2.mechanisms.store import StoredMechanism

if TYPE_CHECKING:
    from contract.hooks import Hook
    from sandbox.client import SandboxClient

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

# Every call of a new mechanism up to this many is replayed: a module that switches on
# once it is live (its second live call, its first trial) is caught within a few trials.
AUDIT_FIRST_CALLS = 3
# After those, each call is replayed with this probability: a module cannot count on a
# call going unchecked, and audits add ~10% to the sandbox's load.
AUDIT_SAMPLE_RATE = 0.1
# `breaker` of the mechanism_reverted event an audit causes.
BREAKER_AUDIT = "audit"
# Seconds :meth:`Auditor.close` waits for replays in flight before it drops them.
CLOSE_WAIT_S = 5.0


@dataclass(frozen=True)
class AuditFinding:
    """A replay that answered differently: the mechanism to revert, and why."""

    name: str
    sha: str
    reason: str


@dataclass(frozen=True)
class LiveCall:
    """One live hook call of a mechanism, as the host made it: what an audit replays."""

    mechanism: StoredMechanism
    stage: Hook
    context: dict[str, Any]
    candidates: list[dict[str, Any]] | None
    output: object  # what the mechanism answered live
    calls_so_far: int  # the mechanism's live calls before this one


def _same(a: object, b: object) -> bool:
    """Equal as JSON: what the host received both times."""
    try:
        return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    except (TypeError, ValueError):
        return False


class _InlineExecutor(Executor):
    """Runs each submitted call at once, on the caller's thread: the same path as the
    background pool, for a host that must not move on before a replay is done."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # kept on the future, as a pool's worker would keep it
            future.set_exception(exc)
        return future


class Auditor:
    """Decides which live calls to replay, replays them, and keeps what it found."""

    def __init__(
        self,
        client: SandboxClient,
        *,
        first_calls: int = AUDIT_FIRST_CALLS,
        sample_rate: float = AUDIT_SAMPLE_RATE,
        background: bool = True,
    ) -> None:
        """``background=False`` replays inside :meth:`consider` (tests, benchmarks)."""
        self.client = client
        self.first_calls = first_calls
        self.sample_rate = sample_rate
        self._rng = random.SystemRandom()  # which calls are audited: not predictable
        self._findings: queue_mod.Queue[AuditFinding] = queue_mod.Queue()
        self._pool: Executor = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-audit")
            if background
            else _InlineExecutor()
        )
        self._pending: list[Future[None]] = []
        self._lock = threading.Lock()
        self.replayed = 0  # replays that produced a comparable answer

    def wanted(self, calls_so_far: int) -> bool:
        """Whether the call after ``calls_so_far`` earlier ones is replayed."""
        return calls_so_far < self.first_calls or self._rng.random() < self.sample_rate

    def consider(self, call: LiveCall) -> None:
        """One live call of a mechanism was answered: replay it if drawn."""
        if not self.wanted(call.calls_so_far):
            return
        future = self._pool.submit(self._replay, call)
        with self._lock:
            self._pending = [f for f in self._pending if not f.done()]
            self._pending.append(future)

    def _replay(self, call: LiveCall) -> None:
        mechanism = call.mechanism
        try:
            result = self.client.call(
                call.stage,
                mechanisms=[mechanism.ref()],
                context=call.context,
                candidates=call.candidates,
            ).to_dict()
        except Exception as exc:  # an audit never fails the study: it proves nothing
            log.warning("live audit of %s could not run: %s", mechanism.name, exc)
            return
        answers = [
            o
            for o in result.get("outputs") or []
            if isinstance(o, dict) and o.get("name") == mechanism.name and o.get("ok") is True
        ]
        if not answers:
            return  # the replay failed: a busy machine, not evidence
        self.replayed += 1
        if _same(answers[0].get("value"), call.output):
            return
        iteration = call.context.get("iteration")
        self._findings.put(
            AuditFinding(
                name=mechanism.name,
                sha=mechanism.sha,
                reason=(
                    f"live audit: {call.stage} (call {call.calls_so_far + 1}, planning trial "
                    f"{iteration}) "
                    "answered differently when replayed in a fresh sandbox on the same context; "
                    "a hook must be a pure function of its arguments"
                ),
            )
        )

    def findings(self) -> list[AuditFinding]:
        """What the replays found since the last look (each finding once)."""
        out: list[AuditFinding] = []
        while True:
            try:
                out.append(self._findings.get_nowait())
            except queue_mod.Empty:
                return out

    def wait(self, timeout: float | None = None) -> None:
        """Until the replays in flight are done (tests; :meth:`close`)."""
        with self._lock:
            pending = list(self._pending)
        for future in pending:
            try:
                future.result(timeout=timeout)
            except Exception as exc:  # timed out or failed: nothing more to wait for
                log.debug("live audit not finished: %s", exc)

    def close(self) -> None:
        """The study is over: let replays in flight finish briefly, drop the rest."""
        self.wait(CLOSE_WAIT_S)
        self._pool.shutdown(wait=False, cancel_futures=True)
