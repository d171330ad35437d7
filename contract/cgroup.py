"""A per-run cgroup (pids + memory, v1 or v2) for a process jail, when one can be made.

Both services' process jails use it: the sandbox's process backend
(:mod:`sandbox.backends.process`) and the trainer's recipe jail (:mod:`trainer.jail`); it is
here, in the stdlib-only leaf, because services may not import each other. Each jailed run
goes in one, so the run's
processes and memory are bounded as a whole (as the docker profile bounds a container) and
can all be killed at the end. A user who may not create cgroups gets an inert one; the
backend then says so among its warnings.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PIDS_LIMIT = 64  # processes + threads, as in the docker profile
MEMORY_LIMIT = 1 << 30  # the cgroup's limit for the whole run, as in the docker profile


class Cgroup:
    """A per-run pids + memory cgroup (v1 or v2) when this user may create one, else inert."""

    def __init__(
        self,
        pids_limit: int = PIDS_LIMIT,
        memory_limit: int = MEMORY_LIMIT,
        prefix: str = "bilevel-sandbox",
    ) -> None:
        self.dirs: list[Path] = []
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        if (CGROUP_ROOT / "cgroup.controllers").exists():  # v2
            candidates = [
                (
                    CGROUP_ROOT / name,
                    {"pids.max": pids_limit, "memory.max": memory_limit, "memory.swap.max": 0},
                )
            ]
        else:
            candidates = [
                (CGROUP_ROOT / "pids" / name, {"pids.max": pids_limit}),
                (CGROUP_ROOT / "memory" / name, {"memory.limit_in_bytes": memory_limit}),
            ]
        for path, limits in candidates:
            try:
                path.mkdir()
            except OSError:
                continue
            self.dirs.append(path)
            for key, value in limits.items():
                with contextlib.suppress(OSError):
                    (path / key).write_text(str(value))

    @property
    def active(self) -> bool:
        return bool(self.dirs)

    def open_procs(self) -> list[int]:
        """Descriptors of the ``cgroup.procs`` files, opened before fork: between fork and
        exec the child only writes ``0`` ("this process") to them, no Python-level I/O."""
        fds = []
        for path in self.dirs:
            with contextlib.suppress(OSError):
                fds.append(os.open(path / "cgroup.procs", os.O_WRONLY))
        return fds

    def oom_killed(self) -> bool:
        for path in self.dirs:
            for name in ("memory.events", "memory.oom_control"):
                with contextlib.suppress(OSError):
                    for line in (path / name).read_text().splitlines():
                        key, _, value = line.partition(" ")
                        if key == "oom_kill" and int(value) > 0:
                            return True
        return False

    def kill_and_remove(self) -> None:
        for _ in range(50):
            pids = []
            for path in self.dirs:
                with contextlib.suppress(OSError):
                    pids += [int(p) for p in (path / "cgroup.procs").read_text().split()]
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.02)
        for path in self.dirs:
            with contextlib.suppress(OSError):
                path.rmdir()


def cgroup_available() -> bool:
    """Whether this user may create a cgroup here (a probe is made and removed)."""
    probe = Cgroup()
    active = probe.active
    probe.kill_and_remove()
    return active


def user_tasks() -> int:
    """Tasks (threads) this user runs now: the count ``RLIMIT_NPROC`` is checked against (it
    counts all of the user's tasks, not a jail's), so a jail without a cgroup gets this many
    plus its own allowance."""
    uid, total = str(os.getuid()), 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            with contextlib.suppress(OSError, ValueError):
                fields = dict(
                    line.split(":", 1)
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                    if ":" in line
                )
                if fields.get("Uid", "").split()[:1] == [uid]:
                    total += int(fields.get("Threads", "1"))
    return total
