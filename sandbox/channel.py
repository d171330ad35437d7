"""The supervisor's side of one worker: start it, send a message, read back exactly one answer.

Runs inside the sandbox as part of the (trusted) harness supervisor. The module a worker
loads shares the worker's process, so it can write to the answer pipe too (for example
through ``/proc/self/fd/N``). Nothing it writes there can pass for the worker's answer:

- every message carries a fresh one-time ``token`` the answer must echo (a module writing
  at import time, or ahead of a call, cannot know it);
- exactly one line answers one message: bytes before a message is sent, or after the
  answer line, fail the worker (the module wrote to the channel);
- answers are parsed strictly (no NaN/Infinity, bounded size, any parse error or
  exception is this worker's failure, never the supervisor's) and their fields are typed;
- a worker that dies after loading fails, even if every answer so far looked right.

What an answer *says* is still only a claim: the supervisor decides which hooks to test
from the host's request and validates every value it gets.

Workers are started as ``python -s -P`` in an environment the supervisor writes in full
(no inherited variables; the package root, read-only, is the only ``PYTHONPATH`` entry),
in the supervisor's working directory, which the backends make an empty read-only one:
no writable directory is ever on a worker's import path.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import secrets
import select
import subprocess
import sys
import threading
import time
from typing import Any

# One worker answer (a hook's output); a mechanism returning more than this is broken.
MAX_MESSAGE_BYTES = 1 << 20
# What a module prints is kept for the report up to this size, the rest is counted and dropped.
MAX_MODULE_OUTPUT_BYTES = 4096
# An answer's error text is cut to this (it goes into reports and LLM repair prompts).
MAX_ERROR_CHARS = 2000
OUTPUT_POLL_S = 0.2  # the output drain thread's wait; the report reads what is left itself
TOKEN_BYTES = 16  # per message: unguessable, and new for every message
WORKER_ENV = {
    # Hash randomisation would make set-of-str iteration order differ from one process to
    # the next; hooks may run in a fresh process per call, so "same input, same output"
    # has to hold across processes.
    "PYTHONHASHSEED": "0",
    "PYTHONDONTWRITEBYTECODE": "1",
    # One BLAS thread: the pids limit counts threads and hooks are tiny computations.
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "HOME": "/nonexistent",  # nothing to read or write there
    "PATH": "/usr/bin:/bin",
}
# The interpreter flags of a worker: no user site-packages (-s), no working directory or
# script directory prepended to sys.path (-P). The environment is written in full instead
# of ignored (-E), because PYTHONHASHSEED must reach the worker.
PYTHON_FLAGS = ("-s", "-P")
# A Python identifier, Unicode included (`class Mécanisme`): letters and digits of any script,
# never a control, format or punctuation character.
CLASS_PATTERN = re.compile(r"[^\W\d]\w{0,99}")

ALL_WORKERS: list[Worker] = []  # every worker started, killed after the report is written


class ChannelError(ValueError):
    """The worker's answer channel carried something other than one valid answer."""


def _reject_constant(name: str) -> Any:
    raise ChannelError(f"{name} is not a number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ChannelError(f"{text[:20]} is not a finite number")
    return value


def parse_answer(line: bytes) -> dict[str, Any]:
    """One answer line as a dict; :class:`ChannelError` for anything else, never another
    exception (deep nesting, a huge integer or bad UTF-8 are this worker's problem)."""
    try:
        answer = json.loads(line, parse_constant=_reject_constant, parse_float=_finite_float)
    except ChannelError:
        raise
    except Exception as exc:  # ValueError, RecursionError, UnicodeDecodeError...
        raise ChannelError(f"malformed message ({type(exc).__name__})") from None
    if not isinstance(answer, dict):
        raise ChannelError("malformed message (not an object)")
    return answer


def error_text(value: object) -> str:
    """An answer's error field as bounded text, whatever type the worker sent."""
    text = value if isinstance(value, str) else "the worker sent a non-text error"
    return text[:MAX_ERROR_CHARS]


def cpu_seconds_of(answer: dict[str, Any]) -> float:
    """An answer's CPU seconds (0 where it reports none)."""
    return seconds_of(answer, "cpu_seconds")


def seconds_of(answer: dict[str, Any], key: str = "seconds") -> float:
    value = answer.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    try:
        seconds = float(value)
    except OverflowError:
        return 0.0
    return round(seconds, 4) if math.isfinite(seconds) and seconds >= 0 else 0.0


def failure(error: str, **extra: Any) -> dict[str, Any]:
    return {"ok": False, "error": error, **extra}


class Worker:
    """One worker process, seen from the supervisor: send a message, wait for the answer."""

    def __init__(self, preload: list[str] | None = None) -> None:
        env = dict(WORKER_ENV)
        if "PYTHONPATH" in os.environ:  # the process backend puts the package there
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        self._out_read, out_write = os.pipe()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                *PYTHON_FLAGS,
                "-m",
                "sandbox.worker",
                *(["--preload", ",".join(preload)] if preload else []),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=out_write,
            env=env,
            close_fds=True,
            start_new_session=True,  # its own process group: killpg reaches what it forked
        )
        os.close(out_write)
        os.set_blocking(self._out_read, False)
        self._output_lock = threading.Lock()
        self._output_closed = False
        ALL_WORKERS.append(self)
        self.output = bytearray()
        self.output_dropped = 0
        self._drain = threading.Thread(target=self._drain_output, daemon=True)
        self._drain.start()
        self._buffer = b""
        self._token = ""
        self.broken = ""  # why this worker's channel can no longer be trusted, once it can't

    def _drain_output(self) -> None:
        while not self._output_closed:
            with contextlib.suppress(OSError, ValueError):
                select.select([self._out_read], [], [], OUTPUT_POLL_S)
            self._read_output()

    def _read_output(self) -> None:
        """Take what the module printed so far (non-blocking; the drain thread and the
        report both call this, so the report holds everything printed before the answer)."""
        with self._output_lock:
            while not self._output_closed:
                try:
                    chunk = os.read(self._out_read, 65536)
                except BlockingIOError:
                    return
                except OSError:
                    chunk = b""
                if not chunk:
                    self._output_closed = True
                    os.close(self._out_read)
                    return
                room = max(MAX_MODULE_OUTPUT_BYTES - len(self.output), 0)
                self.output += chunk[:room]
                self.output_dropped += len(chunk) - len(chunk[:room])

    def _pending(self) -> bool:
        """Bytes waiting on the answer channel that answer nothing the supervisor asked."""
        if self._buffer:
            return True
        assert self.proc.stdout is not None
        with contextlib.suppress(OSError, ValueError):
            ready, _, _ = select.select([self.proc.stdout.fileno()], [], [], 0)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                self._buffer += chunk
                return bool(chunk)
        return False

    def _break(self, why: str) -> str:
        self.broken = self.broken or why
        self.kill()
        return self.broken

    def send(self, message: dict[str, Any]) -> str | None:
        """Send one message; the reason when the worker cannot take it, else None."""
        if self.broken:
            return self.broken
        if self._pending():
            return self._break("unexpected bytes on the worker channel (written by the module?)")
        assert self.proc.stdin is not None
        self._token = secrets.token_hex(TOKEN_BYTES)
        try:
            data = json.dumps({**message, "token": self._token}).encode() + b"\n"
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (OSError, ValueError):
            return self._death()
        return None

    def receive(self, timeout: float) -> dict[str, Any]:
        """The answer to the last message, or a failure (``ok`` False, ``error``) on timeout,
        death, garbage, a wrong token or extra bytes. Never raises."""
        try:
            return self._receive(timeout)
        except Exception as exc:  # the channel's failure is this worker's, never the batch's
            return failure(self._break(f"unreadable worker answer ({type(exc).__name__})"))

    def _receive(self, timeout: float) -> dict[str, Any]:
        if self.broken:
            return failure(self.broken)
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                self.broken = f"timed out after {timeout:g} s"
                return failure(self.broken, timeout=True)
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                return failure(self._death())
            self._buffer += chunk
            if len(self._buffer) > MAX_MESSAGE_BYTES:
                return failure(self._break(f"output larger than {MAX_MESSAGE_BYTES} bytes"))
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            answer = parse_answer(line)
        except ChannelError as exc:
            return failure(self._break(f"the worker sent a {exc}"))
        if answer.get("token") != self._token or not self._token:
            return failure(self._break("a message on the worker channel did not answer the call"))
        self._token = ""
        if self._pending():
            return failure(self._break("extra bytes on the worker channel after its answer"))
        if not isinstance(answer.get("ok"), bool):
            return failure(self._break("the worker sent an answer without a status"))
        if answer["ok"] is not True:
            return failure(error_text(answer.get("error")), seconds=seconds_of(answer))
        return answer

    def ask(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        error = self.send(message)
        return failure(error) if error else self.receive(timeout)

    def still_clean(self) -> str | None:
        """After the last answer: None when the worker is alive and wrote nothing unasked,
        else why not (a worker that dies or writes after loading fails its module)."""
        if self.broken:
            return self.broken
        if self.proc.poll() is not None:
            return "the worker exited after answering"
        if self._pending():
            return self._break("extra bytes on the worker channel after its last answer")
        return None

    def _death(self) -> str:
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return self._break("the worker stopped answering")
        if code == -9:
            why = "killed by SIGKILL (most likely the memory limit was exceeded)"
        elif code < 0:
            why = f"the worker died from signal {-code}"
        else:
            why = f"the worker exited with code {code} during the call (sys.exit or os._exit in the module?)"
        self.broken = self.broken or why
        return why

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            os.killpg(self.proc.pid, 9)
        with contextlib.suppress(OSError):
            self.proc.kill()
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=5)

    def module_output(self) -> str:
        self._read_output()
        text = self.output.decode("utf-8", errors="replace")
        return text + (
            f"\n[... {self.output_dropped} more bytes dropped]" if self.output_dropped else ""
        )
