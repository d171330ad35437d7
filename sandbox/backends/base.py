"""What every sandbox backend does: run the harness on one request, return a host-side outcome.

A backend only *launches* the harness with a byte payload on stdin and collects what came
back (exit code, capped stdout, OOM flag, whether the host's deadline fired). Everything
else is here and shared: the per-run nonce, and the strict parse of the one report line
that carries it. A module's prints, a forged report without the nonce, or a bare exit 0
never count as an answer.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import secrets
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

REPORT_PREFIX = b"BILEVEL-HARNESS-REPORT"
# Most a harness may print. The report is small (module output is capped at 4 KiB per
# worker inside); anything beyond this is an attack or a bug, and the run is failed.
MAX_OUTPUT_BYTES = 8 << 20
# Kept from stderr for diagnostics (a harness crash's traceback).
STDERR_TAIL_BYTES = 4096
NONCE_BYTES = 16  # 128 bits: unguessable by the module, which never sees it anyway
# A warm sandbox (started ahead of its request, idle) is used only while younger than this,
# so an idle one never lingers long; the reaper's deadline label covers it plus its call.
WARM_MAX_AGE_S = 60.0
# Workers a warm harness pre-starts: a typical number of active mechanisms per stage.
WARM_PREFORK = 3

T = TypeVar("T")


class SandboxUnavailable(RuntimeError):
    """The sandbox itself could not run (no engine, missing image, spawn failure).

    An infrastructure problem, never a verdict on the module: callers retry or report it
    (``bilevel mechanism check`` exits 2), they do not count it against the mechanism.
    """


RunStatus = Literal["ok", "timeout", "oom", "output_overflow", "no_report"]


@dataclass
class RawRun:
    """What a backend observed, before the report is parsed."""

    exit_code: int | None
    stdout: bytes
    stderr: bytes = b""
    timed_out: bool = False
    oom_killed: bool = False
    overflow: bool = False
    seconds: float = 0.0


@dataclass
class SandboxRun:
    """The host-side outcome of one sandbox run.

    ``status`` is ``ok`` only when exactly one report line with this run's nonce came back;
    then ``report`` is the harness's structured answer. Otherwise ``error`` says why
    (deadline, out of memory, output flood, no report) in one line.
    """

    status: RunStatus
    report: dict[str, Any] | None
    exit_code: int | None
    oom_killed: bool
    timed_out: bool
    seconds: float
    error: str = ""
    stderr_tail: str = ""
    warnings: list[str] = field(default_factory=list)


def parse_report(stdout: bytes, nonce: str) -> dict[str, Any] | None:
    """The report carried by exactly one ``BILEVEL-HARNESS-REPORT <nonce> <json>`` line."""
    tag = REPORT_PREFIX + b" " + nonce.encode() + b" "
    found = [line[len(tag) :] for line in stdout.split(b"\n") if line.startswith(tag)]
    if len(found) != 1:
        return None
    try:
        report = json.loads(found[0])
    except ValueError:
        return None
    if not isinstance(report, dict) or report.get("nonce") != nonce:
        return None
    return report


class WarmSlot(Generic[T]):
    """One sandbox started ahead of its request, refilled in the background after each use.

    Each sandbox still serves exactly one request: warmth hides start-up latency (container
    creation, interpreter start, worker start) without sharing anything between calls.
    Sandboxes are started from one long-lived thread: a child's parent-death signal
    (bwrap's ``--die-with-parent``) fires when the *thread* that forked it ends.
    """

    def __init__(
        self, start: Callable[[], T], alive: Callable[[T], bool], dispose: Callable[[T], None]
    ) -> None:
        self._start, self._alive, self._dispose = start, alive, dispose
        self._lock = threading.Lock()
        self._ready: tuple[T, float] | None = None
        self._wanted = threading.Event()
        self._closed = False
        threading.Thread(target=self._fill_forever, daemon=True, name="warm-sandbox").start()
        atexit.register(self.close)

    def take(self) -> T | None:
        """The warm sandbox if one is ready, fresh and alive; it is the caller's from now on."""
        with self._lock:
            ready, self._ready = self._ready, None
        if ready is None:
            return None
        handle, born = ready
        if time.monotonic() - born < WARM_MAX_AGE_S and self._alive(handle):
            return handle
        self._dispose(handle)
        return None

    def refill(self) -> None:
        """Ask the filler thread for the next sandbox (no-op when one is ready or coming)."""
        self._wanted.set()

    def _fill_forever(self) -> None:
        while True:
            if not self._wanted.wait(timeout=WARM_MAX_AGE_S):
                self._drop_stale()  # idle: never keep a sandbox around past its age
                continue
            self._wanted.clear()
            if self._closed:
                return
            with self._lock:
                if self._ready is not None:
                    continue
            try:
                handle = self._start()
            except Exception:  # the next call starts cold and reports the problem itself
                continue
            with self._lock:
                if self._ready is None and not self._closed:
                    self._ready, handle = (handle, time.monotonic()), None
            if handle is not None:
                self._dispose(handle)

    def _drop_stale(self) -> None:
        with self._lock:
            ready = self._ready
            if ready is None or time.monotonic() - ready[1] < WARM_MAX_AGE_S:
                return
            self._ready = None
        with contextlib.suppress(Exception):
            self._dispose(ready[0])

    def close(self) -> None:
        self._closed = True
        self._wanted.set()
        with self._lock:
            ready, self._ready = self._ready, None
        if ready is not None:
            with contextlib.suppress(Exception):
                self._dispose(ready[0])


class Backend(ABC):
    """Runs the in-sandbox harness. Subclasses implement :meth:`_launch` only.

    ``warm=True`` keeps one sandbox started ahead of the next request (see
    :class:`WarmSlot`): for long-lived callers (the runner, a study); one-shot callers such
    as ``bilevel mechanism check`` and the attack suite run cold.
    """

    name: str = ""

    def __init__(self, *, warm: bool = False) -> None:
        self.warnings: list[str] = []
        self.warm = warm

    def close(self) -> None:
        """Stop the warm sandbox, if any (a later call starts cold and warms up again)."""
        slot = getattr(self, "_slot", None)
        if slot is not None:
            slot.close()
            self._slot = None

    def run(self, request: dict[str, Any], *, deadline_s: float) -> SandboxRun:
        """Run one harness request under a host-enforced wall-clock deadline."""
        nonce = secrets.token_hex(NONCE_BYTES)
        payload = json.dumps({**request, "nonce": nonce, "deadline_s": deadline_s}, allow_nan=False)
        payload = payload.encode()
        start = time.monotonic()
        raw = self._launch(payload, deadline_s)
        seconds = raw.seconds or time.monotonic() - start
        report = None if raw.overflow else parse_report(raw.stdout, nonce)
        status: RunStatus
        if report is not None:
            status, error = "ok", ""
        elif raw.timed_out:
            status, error = "timeout", f"the sandbox run passed its {deadline_s:g} s deadline"
        elif raw.oom_killed:
            status, error = "oom", "the sandbox ran out of memory"
        elif raw.overflow:
            status, error = (
                "output_overflow",
                f"the sandbox printed more than {MAX_OUTPUT_BYTES} bytes",
            )
        else:
            status = "no_report"
            error = f"the sandbox exited with code {raw.exit_code} without a valid report"
        return SandboxRun(
            status=status,
            report=report,
            exit_code=raw.exit_code,
            oom_killed=raw.oom_killed,
            timed_out=raw.timed_out,
            seconds=round(seconds, 4),
            error=error,
            stderr_tail=raw.stderr[-STDERR_TAIL_BYTES:].decode("utf-8", errors="replace"),
            warnings=list(self.warnings),
        )

    @abstractmethod
    def _launch(self, payload: bytes, deadline_s: float) -> RawRun:
        """Start the harness, feed ``payload`` on stdin, collect output within the deadline."""
