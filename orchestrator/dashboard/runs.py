"""The runs folder the dashboard serves: which studies and ablations it holds, and the only
way a request names a file.

A study is named by its path under ``RUNS_DIR`` (``quickstart``, or ``abl/C-r0`` for one run
of an ablation). A name is resolved strictly: each segment must look like a folder name a
study writes (no ``..``, no leading dot, no separators or odd characters), the resolved path
(symlinks followed) must lie inside ``RUNS_DIR``, and it must hold a journal that also
resolves inside. Anything else is "not found": the dashboard never says why a name failed,
and no path outside ``RUNS_DIR`` is reachable.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from orchestrator.dashboard.progress import PROGRESS_FILENAME, read_progress
from orchestrator.dashboard.tail import JournalTail
from orchestrator.dashboard.view import StudyView
from orchestrator.journal import JOURNAL_FILENAME
from orchestrator.runlock import is_running

# One path segment: what `bilevel study --out` and `bilevel ablation` create. A leading dot
# is refused (hidden folders, `.` and `..`).
SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._+-]{0,199}$")
# RUNS_DIR/<study> and RUNS_DIR/<ablation>/<group>-r<k>: deeper names are never studies.
MAX_NAME_DEPTH = 2
# Files a run folder may serve (journal-listed mechanism sources, LLM transcripts and code
# trials' recipe diffs), and
# the most bytes of one that a page shows.
SERVED_FOLDERS = frozenset({"mechanisms", "research", "llm", "transcripts", "patches"})
MAX_FILE_BYTES = 512 * 1024


@dataclass
class _Entry:
    tail: JournalTail
    view: StudyView


class RunsDir:
    """Studies under one folder, each read incrementally and cached between requests."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve(strict=True)
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ names
    def resolve(self, name: str) -> Path | None:
        """The folder ``name`` denotes inside the root, or None (never raises)."""
        parts = name.split("/")
        if not 1 <= len(parts) <= MAX_NAME_DEPTH or not all(SEGMENT.fullmatch(p) for p in parts):
            return None
        try:
            real = self.root.joinpath(*parts).resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if real == self.root or not real.is_relative_to(self.root) or not _is_dir(real):
            return None
        return real

    def study_dir(self, name: str) -> Path | None:
        folder = self.resolve(name)
        if folder is None:
            return None
        journal = folder / JOURNAL_FILENAME
        try:
            real = journal.resolve(strict=True)
            return folder if real.is_relative_to(folder) and real.is_file() else None
        except (OSError, RuntimeError):
            return None

    def file_in(self, name: str, relative: str) -> Path | None:
        """A file a journal points at (``mechanisms/x.py``), strictly inside the study folder
        and under one of :data:`SERVED_FOLDERS`; None otherwise."""
        folder = self.study_dir(name)
        if folder is None or not relative or relative.startswith(("/", "\\")):
            return None
        parts = Path(relative).parts
        if not parts or parts[0] not in SERVED_FOLDERS or ".." in parts:
            return None
        try:
            real = folder.joinpath(*parts).resolve(strict=True)
            return real if real.is_relative_to(folder) and real.is_file() else None
        except (OSError, RuntimeError):
            return None

    # ------------------------------------------------------------------ listing
    def studies(self) -> list[str]:
        """Every study name under the root: direct children, and runs of ablations."""
        names = []
        for child in self._children(self.root):
            if _is_run(child):
                names.append(child.name)
                continue
            names += [f"{child.name}/{g.name}" for g in self._children(child) if _is_run(g)]
        return [n for n in names if self.study_dir(n) is not None]

    def ablations(self) -> list[str]:
        from orchestrator.report.ablation import RUN_DIR_PATTERN

        return [
            child.name
            for child in self._children(self.root)
            if not _is_run(child)
            and any(RUN_DIR_PATTERN.match(g.name) and _is_run(g) for g in self._children(child))
            and self.resolve(child.name) is not None
        ]

    @staticmethod
    def _children(folder: Path) -> list[Path]:
        try:
            return sorted(p for p in folder.iterdir() if SEGMENT.fullmatch(p.name) and _is_dir(p))
        except OSError:
            return []

    # ------------------------------------------------------------------ views
    def view(self, name: str) -> StudyView | None:
        """The study's view, brought up to date with what its journal gained since last time."""
        folder = self.study_dir(name)
        if folder is None:
            return None
        with self._lock:
            entry = self._entries.get(name)
            if entry is None or entry.tail.path != folder / JOURNAL_FILENAME:
                entry = _Entry(JournalTail(folder / JOURNAL_FILENAME), StudyView(name))
                self._entries[name] = entry
            read = entry.tail.read()
            if read.reset:
                entry.view = StudyView(name)
            for event in read.events:
                entry.view.apply(event)
            return entry.view

    def progress(self, name: str) -> dict[int, dict[str, float | None]]:
        """Live step/loss of the study's trials in flight (its progress.json), {} if none."""
        folder = self.study_dir(name)
        if folder is None:
            return {}
        path = folder / PROGRESS_FILENAME
        try:
            if not path.resolve(strict=True).is_relative_to(folder):
                return {}
        except (OSError, RuntimeError):
            return {}
        return read_progress(folder)

    def modified(self, name: str) -> float:
        """When the study was last seen alive (seconds since the epoch), 0 if unknown or gone.

        The study's lock (:mod:`orchestrator.runlock`) answers at once: held means alive now,
        free means its process is gone (0). Runs without one fall back to the time their
        journal last changed, which only goes stale after :data:`payloads.STALE_AFTER_S`.
        """
        folder = self.study_dir(name)
        held = is_running(folder) if folder is not None else None
        if held is not None:
            return time.time() if held else 0.0
        entry = self._entries.get(name)
        return entry.tail.mtime if entry else 0.0


def _is_run(folder: Path) -> bool:
    try:
        return (folder / JOURNAL_FILENAME).is_file()
    except OSError:  # a folder we may not read is not a study we can show
        return False


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False
