"""Read a journal as it grows: remember the byte offset, parse only what was appended.

A study appends one JSON line per event (docs/journal.md). While it runs, the last line may
be half written; that tail is left for the next read, never parsed. A journal that shrank or
was replaced (``--resume`` truncates a torn line; a user copied another file over it) is
read again from the start, and the caller is told so it can rebuild what it derived.
A damaged line in the middle is skipped and counted: the dashboard shows what it can read
rather than nothing.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The most bytes one refresh parses: a huge journal is caught up over a few polls instead
# of one request that blocks the server for seconds.
MAX_READ_BYTES = 32 * 1024 * 1024


@dataclass
class TailRead:
    """What one :meth:`JournalTail.read` found."""

    events: list[dict[str, Any]] = field(default_factory=list)
    reset: bool = False  # the file was truncated or replaced: derived state must be rebuilt


class JournalTail:
    """Incremental reader of one ``events.jsonl``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.offset = 0  # bytes consumed: always just after a newline
        self.damaged = 0  # lines that were not JSON objects (skipped)
        self.mtime = 0.0
        self._inode: tuple[int, int] | None = None

    def read(self) -> TailRead:
        """Events appended since the last read (all of them the first time)."""
        out = TailRead()
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            if self.offset:
                self._restart(out)
            return out
        except OSError:  # unreadable (permissions): nothing to show, try again next poll
            return out
        inode = (stat.st_dev, stat.st_ino)
        if self._inode is not None and (inode != self._inode or stat.st_size < self.offset):
            self._restart(out)
        self._inode = inode
        self.mtime = stat.st_mtime
        if stat.st_size == self.offset:
            return out
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read(MAX_READ_BYTES)
        except OSError:
            return out
        end = chunk.rfind(b"\n")
        if end < 0:  # only a partial line so far
            return out
        for line in chunk[: end + 1].split(b"\n"):
            line = line.strip()
            if not line:
                continue
            event = _parse(line)
            if event is None:
                self.damaged += 1
            else:
                out.events.append(event)
        self.offset += end + 1
        return out

    def _restart(self, out: TailRead) -> None:
        self.offset = 0
        self.damaged = 0
        self._inode = None
        out.reset = True


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        return None
    return event
