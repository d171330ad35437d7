"""Live training progress of a study's trials in flight: ``runs/<study>/progress.json``.

Progress (step, loss, budget fraction) changes several times a second and is worthless once
a trial ends, so it is live state, not history: it stays out of the journal (the source of
truth, DESIGN §4.4) and goes to one small sidecar file that the study loop rewrites
atomically while it waits for results, and the dashboard reads without Redis. A file that
has not been rewritten for :data:`STALE_AFTER_S` belongs to a study that stopped: ignored.
Standard library and the trainer's progress keys (:mod:`trainer.progress`) only.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

from contract.progress import ELAPSED, FRACTION, LOSS, STEP

PROGRESS_FILENAME = "progress.json"
# The file is rewritten at most this often: live enough for a page polling every 1.5 s,
# and a handful of small writes a minute for the study loop.
WRITE_INTERVAL_S = 1.0
# A progress file older than this is from a study that is no longer running.
STALE_AFTER_S = 60.0
# The fields of one trial's progress that the file keeps, under the file's names (the
# dashboard's, as in the journal's trial_progress events), and the trainer's key for each
# (trainer.progress: the one definition of what a progress report holds).
FILE_FIELDS = {"step": STEP, "loss": LOSS, "budget_frac": FRACTION, "elapsed": ELAPSED}
FIELDS = tuple(FILE_FIELDS)


class ProgressFile:
    """Writer, used by the study loop: :meth:`write` is cheap to call on every poll."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / PROGRESS_FILENAME
        self._last_write = 0.0
        self._last: dict[str, Any] | None = None

    def write(self, progress: dict[int, dict[str, Any]]) -> None:
        trials = {str(index): _fields(p) for index, p in progress.items()}
        now = time.time()
        if trials == self._last and now - self._last_write < STALE_AFTER_S / 2:
            return  # unchanged, and refreshed recently enough not to look stale
        if now - self._last_write < WRITE_INTERVAL_S:
            return
        self._last, self._last_write = trials, now
        temporary = self.path.with_name(f".{PROGRESS_FILENAME}.tmp")
        # Progress is a convenience: a full or read-only disk must never stop a study.
        with suppress(OSError):
            temporary.write_text(json.dumps({"updated": now, "trials": trials}))
            os.replace(temporary, self.path)


def progress_observer(
    run_dir: Path, then: Callable[[str, Any], None] | None = None
) -> Callable[[str, Any], None]:
    """A study observer (``run_study(observer=...)``) that keeps ``run_dir``'s progress file
    current from the loop's ``tick`` calls, then hands every call on to ``then``.

    The study loop knows nothing of the dashboard: whoever starts a study the dashboard
    should show live (``bilevel study``, ``bilevel ablation``) subscribes this writer.
    """
    writer = ProgressFile(run_dir)

    def observe(kind: str, payload: Any) -> None:
        if kind == "tick":
            writer.write(payload)
        if then is not None:
            then(kind, payload)

    return observe


def read_progress(run_dir: Path, now: float | None = None) -> dict[int, dict[str, float | None]]:
    """``{index: {step, loss, budget_frac, elapsed}}`` of trials in flight; {} when the file
    is missing, damaged or stale."""
    path = Path(run_dir) / PROGRESS_FILENAME
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("trials"), dict):
        return {}
    updated = _finite(data.get("updated"))
    now = time.time() if now is None else now
    if updated is None or now - updated > STALE_AFTER_S:
        return {}
    out: dict[int, dict[str, float | None]] = {}
    for key, fields in data["trials"].items():
        if str(key).isdigit() and isinstance(fields, dict):
            out[int(key)] = {k: _finite(fields.get(k)) for k in FIELDS}
    return out


def _fields(progress: dict[str, Any]) -> dict[str, float | None]:
    """The kept fields of one trial's progress report (trainer keys), under the file's names.
    A dict already in the file's names (a copy of the file's own entries) passes as is."""
    out: dict[str, float | None] = {}
    for name, key in FILE_FIELDS.items():
        if key in progress:
            out[name] = _finite(progress[key])
        elif name in progress:
            out[name] = _finite(progress[name])
    return out


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None
