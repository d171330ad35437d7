"""Which trainer workers are alive, judged from their heartbeats in Redis.

rq alone is slow to notice a dead worker: a killed worker's key lives on for its
``worker_ttl`` + 60 s (8 minutes by default), and its job stays "started" until the
heartbeat TTL of the started-job registry runs out (at least 60 s after its last
heartbeat). So ``bilevel worker`` heartbeats every :data:`TRAINER_HEARTBEAT_S`, idle or
busy, and writes that interval into its worker record (:data:`HEARTBEAT_FIELD`). The
orchestrator then calls such a worker dead once its heartbeat has not moved for
:data:`MISSED_HEARTBEATS` intervals, as measured on the orchestrator's own clock (two
hosts' clocks never need to agree): a killed worker's trial is re-run about 25 s after the
kill, and a study whose queue has no live worker says so instead of hanging silently.

A worker that does not declare an interval (a plain rq worker) counts as alive while its
key exists, as before.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from contract.jobs import (  # noqa: F401  (the interval and field live in the leaf)
    HEARTBEAT_FIELD,
    TRAINER_HEARTBEAT_S,
    TRAINER_WORKER_TTL_S,
)

if TYPE_CHECKING:  # imported where used: the inline executor needs neither package
    from redis import Redis
    from rq import Queue

# A worker whose heartbeat has not moved for this many of its intervals is dead: four
# rules out a Redis blip or a busy host, and stays well under a minute (20 s at 5 s).
MISSED_HEARTBEATS = 4
# First "no live worker" notice after this long, and again every this long: a study that
# waits says so, with how long it has waited.
NO_WORKER_NOTICE_S = 10.0


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


@dataclass
class WorkerWatch:
    """The workers of one queue, as seen from the orchestrator."""

    # worker key -> (last heartbeat as written, local monotonic time it was first seen)
    seen: dict[str, tuple[str, float]] = field(default_factory=dict)

    def alive(self, connection: Redis, queue: Queue) -> dict[str, bool]:
        """Worker name -> alive, for every worker registered on ``queue``."""
        from rq import worker_registration

        keys = sorted(
            _text(k) for k in worker_registration.get_keys(queue=queue, connection=connection)
        )
        if not keys:
            self.seen.clear()
            return {}
        pipe = connection.pipeline(transaction=False)
        for key in keys:
            pipe.hmget(key, "last_heartbeat", HEARTBEAT_FIELD, "death")
        now = time.monotonic()
        out: dict[str, bool] = {}
        for key, (beat, declared, death) in zip(keys, pipe.execute(), strict=True):
            name = key.removeprefix("rq:worker:")
            if beat is None or death is not None:  # gone, or stopped cleanly
                self.seen.pop(key, None)
                continue
            out[name] = self._fresh(key, _text(beat), _text(declared), now)
        for key in set(self.seen) - set(keys):
            self.seen.pop(key, None)
        return out

    def _fresh(self, key: str, beat: str, declared: str, now: float) -> bool:
        last = self.seen.get(key)
        if last is None or last[0] != beat:
            self.seen[key] = (beat, now)
            return True
        try:
            interval = float(declared)
        except ValueError:  # a plain rq worker: alive while its key exists
            return True
        return now - last[1] <= MISSED_HEARTBEATS * interval

    def silent_for(self, name: str) -> float:
        """Seconds since the heartbeat of worker ``name`` last moved (0 if unknown)."""
        entry = self.seen.get(f"rq:worker:{name}")
        return time.monotonic() - entry[1] if entry else 0.0


@dataclass
class WaitNotice:
    """Says, every :data:`NO_WORKER_NOTICE_S`, that trials wait with no live worker."""

    since: float | None = None
    last: float = 0.0
    # Where a worker comes from on the compose stack, for the notice.
    stack_hint: str = "the compose stack: `make up`"

    def update(self, waiting: int, live: int, queue_name: str) -> str | None:
        now = time.monotonic()
        if waiting == 0 or live > 0:
            self.since = None
            return None
        if self.since is None:
            self.since, self.last = now, now
            return None
        if now - self.last < NO_WORKER_NOTICE_S:
            return None
        self.last = now
        return (
            f"no live trainer worker on queue {queue_name!r}: {waiting} trial(s) have waited "
            f"{now - self.since:.0f} s; start one with `bilevel worker --queue {queue_name}` "
            f"({self.stack_hint})"
        )
