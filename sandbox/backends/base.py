"""What every sandbox backend does: run the harness on one request, return a host-side outcome.

A backend only *launches* the harness with a byte payload on stdin and collects what came
back (exit code, capped stdout, OOM flag, whether the host's deadline fired). Everything
else is here and shared: the per-run nonce, and the strict parse of the one report line
that carries it. A module's prints, a forged report without the nonce, or a bare exit 0
never count as an answer.
"""

from __future__ import annotations

import json
import secrets
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Literal

REPORT_PREFIX = b"BILEVEL-HARNESS-REPORT"
# Most a harness may print. The report is small (module output is capped at 4 KiB per
# worker inside); anything beyond this is an attack or a bug, and the run is failed.
MAX_OUTPUT_BYTES = 8 << 20
# Kept from stderr for diagnostics (a harness crash's traceback).
STDERR_TAIL_BYTES = 4096
NONCE_BYTES = 16  # 128 bits: unguessable by the module, which never sees it anyway


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


class Backend(ABC):
    """Runs the in-sandbox harness. Subclasses implement :meth:`_launch` only."""

    name: str = ""

    def __init__(self) -> None:
        self.warnings: list[str] = []

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
