"""First-writer-wins result stores, keyed by ``TrialSpec.trial_id``.

A retried job (a worker died after training, rq re-ran it, a user resubmitted it) must
return the result that was already produced, never a second, different one. Both stores
make the write atomic and exclusive: Redis ``SET key value NX``, and on disk a hard link
of a fully written temp file (``link`` fails if the name exists, unlike ``rename``).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import quote

from trainer.spec import TrialResult

if TYPE_CHECKING:
    from redis import Redis

REDIS_KEY_PREFIX = "bilevel:trial-result:"
# Results outlive any study that could ask for them again, but do not fill Redis forever.
REDIS_RESULT_TTL_S = 30 * 24 * 3600


class ResultStore(Protocol):
    def get(self, trial_id: str) -> TrialResult | None:
        """The stored result of ``trial_id``, or None."""
        ...

    def put_first(self, result: TrialResult) -> TrialResult:
        """Store ``result`` unless one exists for its trial; return whichever is stored."""
        ...


class RedisResultStore:
    """Results as JSON strings under ``bilevel:trial-result:<trial_id>``."""

    def __init__(self, connection: Redis, prefix: str = REDIS_KEY_PREFIX) -> None:
        self.redis = connection  # imported for type checking only: this imports without redis
        self.prefix = prefix

    def key(self, trial_id: str) -> str:
        return f"{self.prefix}{trial_id}"

    def get(self, trial_id: str) -> TrialResult | None:
        raw = self.redis.get(self.key(trial_id))
        return None if raw is None else TrialResult.model_validate_json(raw)

    def put_first(self, result: TrialResult) -> TrialResult:
        key = self.key(result.spec.trial_id)
        payload = result.model_dump_json()
        if self.redis.set(key, payload, nx=True, ex=REDIS_RESULT_TTL_S):
            return result
        return self.get(result.spec.trial_id) or result


class FileResultStore:
    """Results as ``<folder>/<quoted trial_id>.json``, for local runs without Redis."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path(self, trial_id: str) -> Path:
        return self.folder / f"{quote(trial_id, safe='')}.json"

    def get(self, trial_id: str) -> TrialResult | None:
        try:
            return TrialResult.model_validate_json(self.path(trial_id).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    def put_first(self, result: TrialResult) -> TrialResult:
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.path(result.spec.trial_id)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".result.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(result.model_dump_json())
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, final)
            except FileExistsError:
                return self.get(result.spec.trial_id) or result
            return result
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
