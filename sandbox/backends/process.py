"""The development sandbox: the harness in a child process, jailed as tightly as this host allows.

Preferred: bubblewrap (``bwrap``) with every namespace unshared (no network but a downed
loopback, own pid/ipc/uts/user namespace), all capabilities dropped, an empty environment,
a file system of read-only binds (the interpreter, its packages and the ``sandbox``
package; nothing of the user's home, the repository or ``/etc``) and *nothing writable*:
bwrap cannot mount a noexec tmpfs, and a hook needs no disk, so there is no ``/tmp`` to
fill or to execute from (the docker profile has a small noexec one).
Without bwrap: ``unshare`` (network, pid and user namespaces) when user namespaces work,
else a bare child process. Always: rlimits, a process group killed at the host deadline, a
cgroup (pids + memory) when this user may create one, and capped output.

Docker is the production boundary; every weaker mode is named in :attr:`warnings` and
logged loudly, so nobody mistakes a laptop run for the real thing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from contract.bwrap import system_bind_args
from contract.cgroup import PIDS_LIMIT, Cgroup, cgroup_available, user_tasks
from sandbox.backends.base import (
    MAX_OUTPUT_BYTES,
    REPORT_PREFIX,
    Backend,
    RawRun,
    SandboxUnavailable,
    WarmSlot,
)

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # the `sandbox` package
# The stdlib-only leaf package sandbox.api imports; bound beside the sandbox package.
CONTRACT_DIR = PACKAGE_DIR.parent / "contract"
JAIL_PACKAGE_ROOT = "/opt/bilevel"  # where the package is bound inside the jail
JAIL_WORK_DIR = "/work"  # an empty directory, read-only like the whole jail: the cwd
# No user site-packages (-s), no working or script directory on sys.path (-P); the
# environment is written in full instead of ignored (-E), as the package root must reach it.
PYTHON_FLAGS = ("-s", "-P")
FILE_SIZE_LIMIT = 8 << 20  # RLIMIT_FSIZE: no single file beyond 8 MiB
OPEN_FILES_LIMIT = 256
# Per-process address space for the supervisor; workers set their own lower limit.
ADDRESS_SPACE_LIMIT = 2 << 30
CPU_SECONDS_LIMIT = 120  # RLIMIT_CPU per process: a backstop behind the wall-clock deadline
REPORT_POLL_S = 0.005  # how often the host looks for the exit while waiting for the report
# System directories the interpreter needs, bound read-only when they exist.


def _bwrap_works(bwrap: str) -> bool:
    probe = [bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--as-pid-1",
             "--ro-bind", "/", "/", "--", "/bin/true"]  # fmt: skip
    try:
        return subprocess.run(probe, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _unshare_works() -> bool:
    probe = ["unshare", "--user", "--map-root-user", "--net", "--pid", "--fork", "true"]
    try:
        return (
            shutil.which("unshare") is not None
            and subprocess.run(probe, capture_output=True, timeout=10).returncode == 0
        )
    except (OSError, subprocess.SubprocessError):
        return False


class ProcessBackend(Backend):
    """Runs the harness as a jailed child process (bubblewrap, unshare or bare)."""

    name = "process"

    def __init__(self, *, warm: bool = False) -> None:
        super().__init__(warm=warm)
        self.bwrap = shutil.which("bwrap")
        if self.bwrap and not _bwrap_works(self.bwrap):
            self.bwrap = None  # installed but unusable here (e.g. user namespaces disabled)
        self.mode = "bwrap" if self.bwrap else ("unshare" if _unshare_works() else "bare")
        self.isolation = self.mode
        if self.mode != "bwrap":
            self.warnings.append(
                "bubblewrap (bwrap) is missing or cannot create namespaces here: the process "
                "sandbox has NO file-system "
                "isolation (the module can read files this user can read)"
                + ("" if self.mode == "unshare" else ", NO network isolation and NO pid namespace")
                + "; install bubblewrap or use the docker backend"
            )
        if os.geteuid() == 0 and not cgroup_available():
            self.warnings.append(
                "running as root without a writable cgroup: the process limit (RLIMIT_NPROC) does "
                "not apply to root, so a fork bomb is bounded only by the deadline"
            )
        for warning in self.warnings:
            log.warning("process sandbox: %s", warning)

    def _command(self, key: str = "") -> list[str]:
        python = [sys.executable, *PYTHON_FLAGS, "-m", "sandbox.harness"]
        python += self.harness_args(key)
        if self.mode == "unshare":
            return [
                "unshare",
                "--user",
                "--map-root-user",
                "--net",
                "--pid",
                "--fork",
                "--kill-child",
                "--mount-proc",
                *python,
            ]
        if self.mode == "bare":
            return python
        assert self.bwrap is not None
        cmd = [
            self.bwrap,
            "--unshare-all",  # ipc, pid, net, uts, cgroup namespaces
            "--unshare-user", "--disable-userns",  # and no nested user namespace from inside
            "--uid", "65534", "--gid", "65534",
            "--die-with-parent",
            # The harness supervisor itself is PID 1: init ignores signals from inside its
            # namespace and the supervisor is non-dumpable, so a module can neither kill it
            # nor write into its stdout (the report channel) through /proc/1/fd/1.
            "--as-pid-1",
            "--new-session",  # no TIOCSTI on the caller's terminal
            "--clearenv",
            "--cap-drop", "ALL",
            "--hostname", "sandbox",
        ]  # fmt: skip
        cmd += system_bind_args()
        cmd += [
            "--ro-bind", str(PACKAGE_DIR), f"{JAIL_PACKAGE_ROOT}/sandbox",
            "--ro-bind", str(CONTRACT_DIR), f"{JAIL_PACKAGE_ROOT}/contract",
            "--proc", "/proc",
            "--dev", "/dev",
            "--remount-ro", "/dev",  # /dev/shm would be a writable, executable tmpfs
            "--dir", JAIL_WORK_DIR,
            "--remount-ro", "/",
            "--chdir", JAIL_WORK_DIR,
            "--setenv", "PYTHONPATH", JAIL_PACKAGE_ROOT,
            "--setenv", "HOME", "/nonexistent",
            "--setenv", "PATH", "/usr/bin:/bin",
            "--",
            *python,
        ]  # fmt: skip
        return cmd

    def _rlimits(self, cgroup: Cgroup) -> list[tuple[int, int]]:
        limits = [
            (resource.RLIMIT_AS, ADDRESS_SPACE_LIMIT),
            (resource.RLIMIT_CPU, CPU_SECONDS_LIMIT),
            (resource.RLIMIT_FSIZE, FILE_SIZE_LIMIT),
            (resource.RLIMIT_NOFILE, OPEN_FILES_LIMIT),
            (resource.RLIMIT_CORE, 0),
        ]
        if os.geteuid() != 0 and not cgroup.active:
            # RLIMIT_NPROC counts every task of this user, not just the sandbox's: allow
            # what already runs plus the sandbox's share. (Root is exempt; the cgroup caps it.)
            limits.append((resource.RLIMIT_NPROC, user_tasks() + PIDS_LIMIT))
        return limits

    def _start(self, key: str = "") -> tuple[subprocess.Popen[bytes], Cgroup]:
        cgroup = Cgroup()
        env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}
        if self.mode != "bwrap":  # bwrap sets the jail's environment itself
            env["PYTHONPATH"] = str(PACKAGE_DIR.parent)
        try:
            return self._spawn(env, cgroup, key), cgroup
        except OSError as exc:
            cgroup.kill_and_remove()
            raise SandboxUnavailable(f"process sandbox failed to start: {exc}") from exc

    def _dispose(self, jail: tuple[subprocess.Popen[bytes], Cgroup]) -> None:
        self._kill(jail[0])
        jail[1].kill_and_remove()

    def _start_warm(self, key: str) -> tuple[subprocess.Popen[bytes], Cgroup]:
        return self._start(key)

    def _alive(self, jail: tuple[subprocess.Popen[bytes], Cgroup]) -> bool:
        return jail[0].poll() is None

    def _launch(self, payload: bytes, deadline_s: float, slot: WarmSlot[Any] | None) -> RawRun:
        jail = (slot.take() if slot else None) or self._start()
        try:
            return self._collect(jail[0], payload, deadline_s, time.monotonic(), jail[1])
        finally:
            if slot:  # after the report: starting the next jail competes for the CPUs
                slot.refill()

    def _spawn(self, env: dict[str, str], cgroup: Cgroup, key: str = "") -> subprocess.Popen[bytes]:
        procs_fds = cgroup.open_procs()
        rlimits = self._rlimits(cgroup)

        def in_child() -> None:
            # Between fork and exec (other threads exist): plain system calls only.
            for fd in procs_fds:
                with contextlib.suppress(OSError):
                    os.write(fd, b"0")
            for limit, value in rlimits:
                with contextlib.suppress(ValueError, OSError):
                    resource.setrlimit(limit, (value, value))

        try:
            return subprocess.Popen(
                self._command(key),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                cwd="/",  # never a writable directory (-P keeps it off sys.path anyway)
                close_fds=True,
                start_new_session=True,
                preexec_fn=in_child,
            )
        finally:
            for fd in procs_fds:
                os.close(fd)

    def _collect(
        self,
        proc: subprocess.Popen[bytes],
        payload: bytes,
        deadline_s: float,
        start: float,
        cgroup: Cgroup,
    ) -> RawRun:
        stdout, stderr = bytearray(), bytearray()
        overflow = threading.Event()

        report_seen = threading.Event()

        def pump(stream: IO[bytes], sink: bytearray, cap: int, is_stdout: bool) -> None:
            fd = stream.fileno()
            while chunk := os.read(fd, 65536):
                if len(sink) < cap:
                    sink += chunk[: cap - len(sink)]
                elif is_stdout:
                    overflow.set()
                    self._kill(proc)
                if is_stdout and not report_seen.is_set():
                    at = sink.find(REPORT_PREFIX)
                    if at >= 0 and sink.find(b"\n", at) >= 0:
                        report_seen.set()

        readers = [
            threading.Thread(
                target=pump, args=(proc.stdout, stdout, MAX_OUTPUT_BYTES, True), daemon=True
            ),
            threading.Thread(target=pump, args=(proc.stderr, stderr, 65536, False), daemon=True),
        ]
        for reader in readers:
            reader.start()
        timed_out = False
        try:
            assert proc.stdin is not None
            with contextlib.suppress(OSError):
                proc.stdin.write(payload)
            with contextlib.suppress(OSError):
                proc.stdin.close()
            # Done at the first complete report line (the harness's teardown is not the
            # caller's latency), at exit, or at the deadline.
            deadline = start + deadline_s
            while proc.poll() is None and not report_seen.is_set():
                if time.monotonic() >= deadline:
                    timed_out = True
                    break
                report_seen.wait(REPORT_POLL_S)
            seconds = time.monotonic() - start
        finally:
            self._kill(proc)
            oom = cgroup.oom_killed()
            cgroup.kill_and_remove()
            for reader in readers:
                reader.join(timeout=5)
        return RawRun(
            exit_code=None if timed_out else proc.poll(),
            stdout=bytes(stdout),
            stderr=bytes(stderr),
            timed_out=timed_out,
            oom_killed=oom,
            overflow=overflow.is_set(),
            seconds=seconds,
        )

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
