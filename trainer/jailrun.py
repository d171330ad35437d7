"""One jailed recipe process, driven over its pipes with deadlines timed from outside.

:class:`JailedRecipe` starts :mod:`trainer.recipe_child` in the jail :mod:`trainer.jail`
builds, sends it messages (a JSON line, optionally one ``.npy`` array) and waits for each
answer with a timeout; at a timeout, on exit or on any malformed answer it kills the whole
jail and raises :class:`JailError` with the cause and the cleaned tail of the jail's
stderr. The jail never learns the deadline, and nothing it writes can extend it.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import resource
import signal
import subprocess
import tempfile
import threading
from typing import IO, Any

import numpy as np

from contract.cgroup import Cgroup
from contract.trials import TrialStatus
from trainer.jail import (
    JAIL_PIDS_LIMIT,
    MEMORY_LIMIT_BYTES,
    Mounts,
    backend,
    docker_command,
    process_command,
    rlimits,
)

# The jailed side's own protocol helpers (it is one file that imports no harness code).
from trainer.recipe_child import read_array, send

# Characters of the jail's stderr shown in a failed trial: the failing frame and cause.
STDERR_TAIL_CHARS = 1500
# The largest answer line the harness reads: a loss or a flag, never bulk data.
MAX_LINE_BYTES = 4096
KILL_WAIT_S = 10.0


class JailError(RuntimeError):
    """The jailed recipe failed: ``kind`` is the trial status (``crashed``, ``timeout``,
    ``invalid``); ``str`` says why."""

    def __init__(self, kind: TrialStatus, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def clean_text(text: str) -> str:
    """Printable characters, newlines and tabs only: a recipe's output is hostile text."""
    return "".join(c for c in text if c in "\n\t" or c.isprintable())


def _read_message(stream: IO[bytes]) -> tuple[dict[str, Any], np.ndarray | None]:
    line = stream.readline(MAX_LINE_BYTES)
    if not line:
        raise EOFError
    message = json.loads(line)
    if not isinstance(message, dict):
        raise ValueError("an answer must be a JSON object")
    array = None
    if message.get("logits") is True:
        array = read_array(stream)
    return message, array


class JailedRecipe:
    """A started jail; use as a context manager so it is always killed."""

    def __init__(self, mounts: Mounts, header: dict[str, Any], *, gpu: str | None = None) -> None:
        self.stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed in __exit__)
        self.container: str | None = None
        limits: list[tuple[int, int]] = []
        # The process jail's processes and memory bounded as a whole, and all killable at the
        # end (RLIMIT_NPROC alone does not bind root); inert where no cgroup can be made.
        self.cgroup = Cgroup(JAIL_PIDS_LIMIT, MEMORY_LIMIT_BYTES, prefix="bilevel-recipe")
        if backend() == "docker":
            cmd, self.container = docker_command(mounts, int(header["threads"]), gpu=gpu)
        else:
            cmd = process_command(mounts, int(header["threads"]), gpu=gpu)
            limits = rlimits()
        procs_fds = self.cgroup.open_procs() if self.container is None else []

        def in_child() -> None:  # between fork and exec: plain system calls only
            for fd in procs_fds:
                with contextlib.suppress(OSError):
                    os.write(fd, b"0")
            for limit, value in limits:
                with contextlib.suppress(ValueError, OSError):
                    resource.setrlimit(limit, (value, value))

        try:
            self.proc = self._popen(cmd, in_child)
        finally:
            for fd in procs_fds:
                os.close(fd)
        self.answers: queue.Queue[tuple[dict[str, Any], np.ndarray | None] | Exception] = (
            queue.Queue()
        )
        threading.Thread(target=self._pump, daemon=True).start()
        self.send(header)

    def _popen(self, cmd: list[str], in_child: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},  # no worker secrets
            cwd="/",
            close_fds=True,
            start_new_session=True,
            preexec_fn=in_child,
        )

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        while True:
            try:
                self.answers.put(_read_message(self.proc.stdout))
            except Exception as exc:  # EOF, a bad line or array: the protocol is broken
                self.answers.put(exc)
                return

    def send(self, message: dict[str, Any], array: np.ndarray | None = None) -> None:
        assert self.proc.stdin is not None
        with contextlib.suppress(OSError):  # the jail died; the next answer says so
            send(self.proc.stdin, message, array)

    def ask(
        self, message: dict[str, Any], array: np.ndarray | None, timeout_s: float
    ) -> tuple[dict[str, Any], np.ndarray | None]:
        """Send a request and wait for its answer, or kill the jail and raise."""
        self.send(message, array)
        try:
            answer = self.answers.get(timeout=max(timeout_s, 0.0))
        except queue.Empty:
            self.kill()
            raise JailError(
                "timeout", f"the recipe did not answer within {timeout_s:.0f} s"
            ) from None
        if isinstance(answer, Exception):
            self.kill()
            why = "exited" if isinstance(answer, EOFError) else f"broke the protocol ({answer})"
            raise JailError("crashed", f"the recipe process {why}\n{self.stderr_tail()}".strip())
        return answer

    def stderr_tail(self) -> str:
        self.stderr.seek(0, os.SEEK_END)
        size = self.stderr.tell()
        self.stderr.seek(max(0, size - STDERR_TAIL_CHARS))
        return clean_text(self.stderr.read().decode("utf-8", "replace")).strip()

    def kill(self) -> None:
        if self.container is not None:
            subprocess.run(
                ["docker", "kill", self.container], capture_output=True, check=False, timeout=30
            )
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=KILL_WAIT_S)
        self.cgroup.kill_and_remove()

    def __enter__(self) -> JailedRecipe:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                if self.proc.stdin is not None:
                    self.proc.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=1.0)
        self.kill()
        self.stderr.close()
