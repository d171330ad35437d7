"""Checking many mechanism modules: each file's verdict, in parallel, never a crash.

Every file gets a :class:`FileResult`: ``accepted``, ``rejected`` (the ladder said no: the
module's fault) or ``error`` (the check could not run: an unreadable file, the sandbox
down: the pipeline's fault). ``--static-only`` runs the static gate alone, in this process
and without a sandbox: a lint for pre-commit hooks, not evidence that a module works.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sandbox.answers import CheckResult, LadderReport, source_sha

if TYPE_CHECKING:
    from orchestrator.level2.mechanism_ci.targets import CheckTarget
    from sandbox.client import SandboxClient

Status = Literal["accepted", "rejected", "error"]
# The reason of a static-only pass: it says what was and was not shown.
STATIC_ONLY_PASS = "passed the static gate (a lint only: the sandboxed stages did not run)"
# What the static-only mode reports as its backend: nothing ran the module.
STATIC_ONLY_BACKEND = "none"


@dataclass
class FileResult:
    """One module's outcome; ``report`` is None only for an ``error``."""

    file: str  # the path as the user named it (CI annotations resolve it from the repo root)
    status: Status
    report: LadderReport | None = None
    error: str = ""  # why the check could not run (``error`` only)
    error_kind: str = ""  # "usage" (the file) or "sandbox" (the infrastructure) or "internal"
    seconds: float = 0.0
    static_only: bool = False

    @property
    def stage(self) -> str | None:
        return self.report.stage if self.report is not None else None

    @property
    def reason(self) -> str:
        return self.report.reason if self.report is not None else self.error


def max_jobs() -> int:
    """The most checks that run at once: one per CPU. Each sandbox gets one CPU and the
    per-call time limits are wall-clock, so more checks than CPUs would reject good modules
    for the machine's load, not their own speed."""
    return max(1, os.cpu_count() or 1)


def read_module(path: Path) -> str:
    """The module's text; ``OSError``/``UnicodeDecodeError`` for the caller to report."""
    return path.read_text(encoding="utf-8")


def static_report(source: str, filename: str) -> LadderReport:
    """The static gate alone, as a ladder report decided at the ``static`` stage."""
    from sandbox.gate import check_source

    start = time.perf_counter()
    gate = check_source(source, filename)  # never raises for the module; a missing lock does
    checks = [CheckResult("static:gate", gate.ok, gate.seconds, "" if gate.ok else gate.reason)]
    checks += [CheckResult(f"static:line-{i.line}", False, 0.0, i.message) for i in gate.issues]
    total = round(time.perf_counter() - start, 4)
    return LadderReport(
        accepted=gate.ok,
        stage="static",
        reason=STATIC_ONLY_PASS if gate.ok else f"static gate: {gate.reason}",
        sha=source_sha(source),
        checks=checks,
        timings={"static": gate.seconds, "total": total},
        backend=STATIC_ONLY_BACKEND,
    )


def check_one(
    path: Path, source: str, target: CheckTarget, client: SandboxClient | None
) -> FileResult:
    """One module's result; ``client`` None means static only. Never raises."""
    from sandbox.backends import SandboxUnavailable

    start = time.perf_counter()
    name = str(path)
    try:
        if client is None:
            report = static_report(source, path.name)
        else:
            report = client.check(source, target.space, replays=target.replays, filename=path.name)
    except SandboxUnavailable as exc:
        return _error(name, str(exc), "sandbox", start)
    except Exception as exc:  # a crash of the check itself: this file's error, not the run's
        return _error(
            name, f"the check itself failed: {type(exc).__name__}: {exc}", "internal", start
        )
    return FileResult(
        file=name,
        status="accepted" if report.accepted else "rejected",
        report=report,
        seconds=round(time.perf_counter() - start, 3),
        static_only=client is None,
    )


def _error(name: str, why: str, kind: str, start: float) -> FileResult:
    return FileResult(
        file=name,
        status="error",
        error=why,
        error_kind=kind,
        seconds=round(time.perf_counter() - start, 3),
    )


def unreadable(path: Path, exc: Exception) -> FileResult:
    """The result for a file that could not be read as UTF-8 text."""
    why = getattr(exc, "strerror", None) or exc
    return FileResult(
        file=str(path),
        status="error",
        error=f"cannot read {path}: {why}; pass a UTF-8 .py file",
        error_kind="usage",
    )


def check_all(
    modules: list[tuple[Path, str]],
    target: CheckTarget,
    client: SandboxClient | None,
    *,
    jobs: int = 1,
    on_result: Callable[[FileResult], None] | None = None,
) -> list[FileResult]:
    """Every module's result, in the order given; ``jobs`` checks at a time, each in a
    sandbox of its own. ``on_result`` hears each result as it finishes (progress)."""

    def one(module: tuple[Path, str]) -> FileResult:
        result = check_one(module[0], module[1], target, client)
        if on_result is not None:
            on_result(result)
        return result

    if jobs <= 1 or len(modules) <= 1:
        return [one(m) for m in modules]
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="mechanism-check") as pool:
        return list(pool.map(one, modules))
