"""Content-addressed storage of promoted mechanism sources under the run folder.

A promoted module is written once to ``runs/<study>/mechanisms/<name>-<sha>.py`` and never
changed: the journal names it by ``sha``, so ``--resume`` and any later audit read back
exactly the text that passed the gate ladder. The orchestrator only ever *reads* these
files as text to hand them to the sandbox; it never imports them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sandbox.answers import source_sha

MECHANISMS_DIRNAME = "mechanisms"
# Mechanism names become file names: keep them to a safe, portable alphabet.
FILE_STEM_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


class StoreError(ValueError):
    """A stored mechanism is missing, renamed, or its text no longer matches its sha."""


@dataclass(frozen=True)
class StoredMechanism:
    """A mechanism's identity: its name and the hash of its exact source text."""

    name: str
    sha: str
    source: str
    path: str  # relative to the run folder, as journaled

    def ref(self) -> tuple[str, str, str]:
        """The ``(name, sha, source)`` triple the sandbox client takes."""
        return (self.name, self.sha, self.source)


def safe_name(name: str) -> str:
    """``name`` if it can be a file-name stem, else a sanitised version of it."""
    if FILE_STEM_PATTERN.fullmatch(name):
        return name
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", name).lstrip("_0123456789")[:64]
    return cleaned or "mechanism"


def store_mechanism(run_dir: Path, name: str, source: str) -> StoredMechanism:
    """Write ``source`` at its content address (idempotent) and describe it."""
    name = safe_name(name)
    sha = source_sha(source)
    relative = f"{MECHANISMS_DIRNAME}/{name}-{sha}.py"
    path = Path(run_dir) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        tmp.write_text(source, encoding="utf-8")
        tmp.replace(path)  # atomic: a reader never sees half a module
    return StoredMechanism(name=name, sha=sha, source=source, path=relative)


def load_mechanism(run_dir: Path, name: str, sha: str, path: str) -> StoredMechanism:
    """Read a stored module back and check it is still the text that was promoted."""
    full = Path(run_dir) / path
    try:
        source = full.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StoreError(f"promoted mechanism {name} ({sha}) is missing: {full}") from None
    if source_sha(source) != sha:
        raise StoreError(f"{full} was modified after promotion (sha {sha} no longer matches)")
    return StoredMechanism(name=name, sha=sha, source=source, path=path)
