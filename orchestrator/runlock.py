"""The lock a running study holds on its run dir: ``runs/<study>/study.lock``.

The study process holds an exclusive ``flock`` on it from start to end. The kernel drops
the lock the moment the process is gone, however it ended (``kill -9``, a crash, a host
reboot), so a reader knows within one look whether a study is still running, instead of
waiting for its journal to go quiet. It also refuses a second study on the same run dir,
which would interleave two writers in one journal.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from types import TracebackType

from orchestrator.errors import UserError

LOCK_FILENAME = "study.lock"
# Bytes of the lock file read back for the holder's pid (a decimal number and a newline).
MAX_PID_BYTES = 32


class RunLock:
    """Held while a study runs in ``run_dir`` (a context manager; creates the folder)."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK_FILENAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise UserError(
                f"another study is running in {self.path.parent}{holder}; wait for it, stop "
                "it, or pass another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def is_running(run_dir: Path) -> bool | None:
    """Whether a study process holds ``run_dir``'s lock now; None for a run without a lock
    file (written before this lock existed, or never started), where only the journal's
    age can tell."""
    path = Path(run_dir) / LOCK_FILENAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:  # a filesystem without flock: unknown
        return None
    finally:
        os.close(fd)  # also drops the shared lock just taken
    return False


def _read_pid(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        text = os.pread(fd, MAX_PID_BYTES, 0).decode().strip()
        if text.isdigit():
            return f" (pid {text})"
    return ""
