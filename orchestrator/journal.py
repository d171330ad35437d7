"""The study journal: ``runs/<study>/events.jsonl``, append-only, one JSON event per line.

It is the source of truth (DESIGN §4.4, docs/journal.md): ``--resume`` rebuilds a study
from it and every summary is derived from it. Each event is flushed and fsynced before
:meth:`Journal.append` returns, so a ``kill -9`` loses at most the line being written;
that torn line is ignored by :func:`read_events` and cut away when a journal reopens.
"""

from __future__ import annotations

import json
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from orchestrator.errors import UserError
from orchestrator.events import (
    CONTEXT_RESET,
    GATE_VERDICT,
    LLM_CALL,
    MECHANISM_PROMOTED,
    MECHANISM_REVERTED,
    NOISE_FLOOR,
    POLICY_CHANGED,
    RESEARCH_FINISHED,
    RESEARCH_ROUND,
    RESEARCH_SKIPPED,
    RESEARCH_STARTED,
    SOURCE_CHOSEN,
    STUDY_FINISHED,
    STUDY_STARTED,
    TRIAL_FINISHED,
    TRIAL_PROPOSED,
    Event,
    parse_event,
)

E = TypeVar("E", bound=Event)

JOURNAL_FILENAME = "events.jsonl"

# One journal line as read: a JSON object whose values are unchecked until an event model
# (:func:`orchestrator.events.parse_event`) or a reader narrows them.
JsonObject = dict[str, object]

# The event names live with their models (orchestrator/events.py); re-exported here for
# callers that import them from the journal.
__all__ = [
    "CONTEXT_RESET",
    "GATE_VERDICT",
    "JOURNAL_FILENAME",
    "LLM_CALL",
    "MECHANISM_PROMOTED",
    "MECHANISM_REVERTED",
    "NOISE_FLOOR",
    "POLICY_CHANGED",
    "RESEARCH_FINISHED",
    "RESEARCH_ROUND",
    "RESEARCH_SKIPPED",
    "RESEARCH_STARTED",
    "SOURCE_CHOSEN",
    "STUDY_FINISHED",
    "STUDY_STARTED",
    "TRIAL_FINISHED",
    "TRIAL_PROPOSED",
    "Event",
    "Journal",
    "iter_events",
    "journal_path",
    "read_events",
    "read_records",
]


def journal_path(run_dir: Path, *, must_exist: bool = False) -> Path:
    """``run_dir/events.jsonl``. With ``must_exist``, a UserError that says what to pass
    instead when ``run_dir`` is not a folder or holds no journal (the report commands)."""
    run_dir = Path(run_dir)
    path = run_dir / JOURNAL_FILENAME
    if must_exist:
        if not run_dir.is_dir():
            raise UserError(
                f"{run_dir} is not a folder; pass the run folder that holds {JOURNAL_FILENAME}"
            )
        if not path.is_file():
            raise UserError(
                f"no {JOURNAL_FILENAME} in {run_dir}; pass the folder a study wrote (its --out DIR)"
            )
    return path


def _parse_lines(raw: bytes) -> tuple[list[JsonObject], int]:
    """Events in ``raw`` and the byte length of its intact prefix.

    A last line without its newline, or one that is not a JSON object, is a torn write
    and ends the intact prefix; a corrupt line in the middle is a real error.
    """
    events: list[JsonObject] = []
    intact = 0
    lines = raw.split(b"\n")
    for number, line in enumerate(lines):
        is_last = number == len(lines) - 1
        if is_last:  # after the final newline: empty, or a torn partial line
            break
        stripped = line.strip()
        if stripped:
            try:
                event = json.loads(stripped)
            except json.JSONDecodeError as exc:
                if number == len(lines) - 2 and not lines[-1]:
                    break  # the last complete line is garbage: treat it as torn
                raise ValueError(f"journal line {number + 1} is not JSON: {exc}") from None
            if not isinstance(event, dict):
                raise ValueError(f"journal line {number + 1} is not a JSON object")
            events.append(event)
        intact += len(line) + 1
    return events, intact


def read_records(path: Path) -> list[JsonObject]:
    """All intact events of a journal file (or of ``run_dir/events.jsonl``) as JSON objects."""
    path = Path(path)
    if path.is_dir():
        path = journal_path(path)
    records, _ = _parse_lines(path.read_bytes())
    return records


def read_events(path: Path) -> list[Event]:
    """All intact events of a journal file (or of ``run_dir/events.jsonl``), oldest first,
    each as its model (:mod:`orchestrator.events`; an unknown type as ``UnknownEvent``)."""
    events: list[Event] = []
    for number, record in enumerate(read_records(path)):
        try:
            events.append(parse_event(record))
        except ValueError as exc:  # pydantic's ValidationError: a field of the wrong type
            raise ValueError(f"journal event {number + 1} does not parse: {exc}") from None
    return events


def iter_events(path: Path, model: type[E]) -> Iterator[E]:
    """The events of one type, oldest first."""
    for event in read_events(path):
        if isinstance(event, model):
            yield event


class Journal:
    """Append-only writer. Thread-safe: the study loop, its LLM client and the research
    sessions running beside it share one.

    Subscribers (the study state's fold) are called on one thread only, the one that
    subscribed (the study loop's), in ``seq`` order, once per event. An append on that
    thread delivers at once, after whatever is still queued; an append from another thread
    is written durably and queued, and the loop picks it up at its next append or
    :meth:`deliver`. So the state is never changed under the loop's feet.

    Opening an existing file continues its ``seq`` numbering after truncating a torn
    last line, which is exactly what ``--resume`` needs.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            self.path = journal_path(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # guards the file, seq and the delivery queue
        existing: list[JsonObject] = []
        if self.path.exists():
            raw = self.path.read_bytes()
            existing, intact = _parse_lines(raw)
            if intact < len(raw):
                with open(self.path, "r+b") as fh:
                    fh.truncate(intact)
        self._next_seq = _seq_after(existing)
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._subscribers: list[Callable[[Event], None]] = []
        self._owner: int | None = None  # the thread subscribers run on
        self._queue: deque[Event] = deque()  # written, not yet delivered, in seq order
        self._delivering = False  # only the owner thread reads or sets it

    def subscribe(self, callback: Callable[[Event], None]) -> None:
        """Call ``callback(event)`` for every event appended from now on, on this thread.

        The study loop folds every event into its state this way, including the ones the
        LLM client and the research sessions write from their own threads. Every
        subscriber shares the first one's thread: a second thread is refused.
        """
        owner = threading.get_ident()
        if self._owner is not None and self._owner != owner:
            raise RuntimeError("journal subscribers run on one thread; this one is another")
        self._owner = owner
        self._subscribers.append(callback)

    @property
    def run_dir(self) -> Path:
        return self.path.parent

    def append(self, event: E) -> E:
        """Write one event durably and return it, ``seq`` and ``ts`` set. On the
        subscribers' thread the event (and any queued before it) is delivered before this
        returns; from any other thread it waits for :meth:`deliver`."""
        with self._lock:
            event.seq = self._next_seq
            event.ts = datetime.now(UTC).isoformat()
            line = json.dumps(event.record(), default=_json_default, separators=(",", ":"))
            self._file.write(line + "\n")
            self._file.flush()
            os.fsync(self._file.fileno())
            self._next_seq += 1
            if self._subscribers:
                self._queue.append(event)
        self.deliver()
        return event

    def deliver(self) -> int:
        """Hand every queued event to the subscribers, oldest first; the number delivered.

        Does nothing on any thread but the subscribers', and nothing when called from a
        subscriber (the outer call goes on with what that subscriber appended).
        """
        if threading.get_ident() != self._owner or self._delivering:
            return 0
        self._delivering = True
        delivered = 0
        try:
            while True:
                with self._lock:
                    if not self._queue:
                        return delivered
                    event = self._queue.popleft()
                for callback in self._subscribers:
                    callback(event)
                delivered += 1
        finally:
            self._delivering = False

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _seq_after(events: list[JsonObject]) -> int:
    """The ``seq`` of the event after ``events``: one past the last one's (0 for none)."""
    if not events:
        return 0
    seq = events[-1]["seq"]
    if not isinstance(seq, int):
        raise ValueError(f"the journal's last event has no whole-number seq: {seq!r}")
    return seq + 1


def _json_default(value: object) -> object:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
