"""What every sandbox backend does: run the harness on one request, return a host-side outcome.

A backend only *launches* the harness with a byte payload on stdin and collects what came
back (exit code, capped stdout, OOM flag, whether the host's deadline fired). Everything
else is here and shared: the per-run nonce, and the strict parse of the one report line
that carries it. A module's prints, a forged report without the nonce, or a bare exit 0
never count as an answer.
"""

from __future__ import annotations

import ast
import atexit
import contextlib
import json
import re
import secrets
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from sandbox.source_hooks import parse_source

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
# How long a call waits for a warm sandbox that is still starting before it starts a cold
# one: about a cold container start on a busy machine (a cold start would compete with it).
WARM_TAKE_WAIT_S = 3.0
# Workers a warm harness pre-starts: one, since each sandbox serves one mechanism.
WARM_PREFORK = 1
# Warm sandboxes kept ready at most (one per live mechanism and hook stage): a study with
# a dozen live mechanism-stage pairs is warm throughout; reverted ones age out first.
MAX_WARM_SLOTS = 12
# Modules a warm harness's pre-started workers import while they wait (see preload_modules):
# at most this many, so a long import list cannot make a warm start slow.
MAX_PRELOAD = 16
# Isolation strengths: what a backend's jail actually is, as the runner reports it. Only these two
# isolate the file system, network and processes of LLM-written code from the host;
# "unshare" (namespaces, host files readable) and "bare" (a child process) are weak.
ISOLATION_LEVELS = ("docker", "bwrap", "unshare", "bare")
STRONG_ISOLATION = frozenset({"docker", "bwrap"})
_MODULE_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass(frozen=True)
class WarmSpec:
    """How a warm sandbox starts: workers pre-started, modules they import while waiting."""

    prefork: int = WARM_PREFORK
    preload: tuple[str, ...] = ()


def preload_modules(request: dict[str, Any]) -> tuple[str, ...]:
    """Modules the mechanisms of a hook-call request import, to import ahead next time.

    A warm sandbox is started before its request exists; a stable set of live mechanisms
    makes the last call's imports the best guess for the next. Importing them while the
    sandbox waits moves e.g. scikit-learn's ~1 s import off every call's critical path.
    The sources are parsed, never run, here; the names are only ever imported inside the
    sandbox, where the module could have imported them itself.
    """
    names: dict[str, None] = {}
    for mechanism in request.get("mechanisms") or []:
        try:
            tree = parse_source(str(mechanism.get("source", "")))
        except Exception:  # unparsable: its own load reports that, inside the sandbox
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update((alias.name, None) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names[node.module] = None
    wanted = [n for n in names if _MODULE_PATH.fullmatch(n) and not n.startswith("sandbox")]
    return tuple(wanted[:MAX_PRELOAD])


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
    except Exception:  # ValueError, RecursionError on absurd nesting: no valid report
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
        self._changed = threading.Condition(self._lock)  # a start finished (or failed)
        self._ready: tuple[T, float] | None = None
        self._starting = False
        self._wanted = threading.Event()
        self._closed = False
        threading.Thread(target=self._fill_forever, daemon=True, name="warm-sandbox").start()
        atexit.register(self.close)

    def take(self) -> T | None:
        """The warm sandbox if one is ready, fresh and alive; it is the caller's from now on.

        One still starting is waited for (up to WARM_TAKE_WAIT_S): it is further along than
        a cold start begun now would be, and on a busy machine the two would only compete."""
        with self._lock:
            if self._ready is None and self._starting:
                self._changed.wait_for(
                    lambda: self._ready is not None or not self._starting, WARM_TAKE_WAIT_S
                )
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
                self._starting = True
            handle: T | None = None
            try:
                handle = self._start()
            except Exception:  # the next call starts cold and reports the problem itself
                handle = None
            with self._lock:
                self._starting = False
                if handle is not None and self._ready is None and not self._closed:
                    self._ready, handle = (handle, time.monotonic()), None
                self._changed.notify_all()
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
    # One of ISOLATION_LEVELS; subclasses set it to what they really run under.
    isolation: str = "bare"

    def __init__(self, *, warm: bool = False) -> None:
        self.warnings: list[str] = []
        self.warm = warm
        # One warm sandbox per kind of request (the ladder, each hook stage): a study calls
        # guide, propose and screen back to back, and each finds its own sandbox ready,
        # started with the workers and imports that stage needed last time.
        self._warm_specs: dict[str, WarmSpec] = {}
        self._slots: dict[str, WarmSlot[Any]] = {}
        self._slots_lock = threading.Lock()

    @staticmethod
    def warm_key(request: dict[str, Any]) -> str:
        """The kind of request a warm sandbox is started for: ``ladder``, or
        ``call:<stage>:<name>:<sha>`` (one sandbox per mechanism and stage: a mechanism
        never shares its sandbox, and each finds one ready that imported what it imports)."""
        if request.get("op") == "call":
            who = ",".join(
                f"{m.get('name', '')}:{m.get('sha', '')}" for m in request.get("mechanisms") or []
            )
            return f"call:{request.get('stage')}:{who}"
        return str(request.get("op"))

    def harness_args(self, key: str = "") -> list[str]:
        """Arguments of the in-sandbox harness: pre-started workers for a warm sandbox."""
        if not self.warm:
            return []
        spec = self._warm_specs.get(key, WarmSpec())
        args = ["--prefork", str(spec.prefork)]
        return [*args, "--preload", ",".join(spec.preload)] if spec.preload else args

    def warm_slot(self, key: str) -> WarmSlot[Any] | None:
        """The warm slot for one kind of request (None for a cold backend)."""
        if not self.warm:
            return None
        evicted = None
        with self._slots_lock:
            slot = self._slots.pop(key, None)
            if slot is None:
                slot = WarmSlot(lambda: self._start_warm(key), self._alive, self._dispose)
                if len(self._slots) >= MAX_WARM_SLOTS:  # the least recently used goes
                    evicted = self._slots.pop(next(iter(self._slots)))
            self._slots[key] = slot  # (re)inserted last: dict order is recency
        if evicted is not None:
            evicted.close()
        return slot

    def close(self) -> None:
        """Stop the warm sandboxes, if any (a later call starts cold and warms up again)."""
        with self._slots_lock:
            slots, self._slots = list(self._slots.values()), {}
        for slot in slots:
            slot.close()

    # A warm backend's subclass starts, checks and disposes of a sandbox handle.
    def _start_warm(self, key: str) -> Any:
        raise NotImplementedError

    def _alive(self, handle: Any) -> bool:
        raise NotImplementedError

    def _dispose(self, handle: Any) -> None:
        raise NotImplementedError

    def run(self, request: dict[str, Any], *, deadline_s: float) -> SandboxRun:
        """Run one harness request under a host-enforced wall-clock deadline."""
        key = self.warm_key(request)
        if request.get("op") == "call":  # the next warm sandbox for this stage fits this call
            workers = len(request.get("mechanisms") or []) or WARM_PREFORK
            self._warm_specs[key] = WarmSpec(workers, preload_modules(request))
        nonce = secrets.token_hex(NONCE_BYTES)
        message = {**request, "nonce": nonce, "deadline_s": deadline_s}
        payload = json.dumps(message, allow_nan=False).encode()
        start = time.monotonic()
        try:
            raw = self._launch(payload, deadline_s, self.warm_slot(key))
        except SandboxUnavailable:
            raise
        except Exception as exc:  # an engine or OS surprise is infrastructure, never a verdict
            raise SandboxUnavailable(
                f"{self.name} sandbox failed to run: {type(exc).__name__}: {exc}".splitlines()[0]
            ) from exc
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
    def _launch(self, payload: bytes, deadline_s: float, slot: WarmSlot[Any] | None) -> RawRun:
        """Start the harness (or take ``slot``'s warm one), feed ``payload`` on stdin,
        collect output within the deadline."""
