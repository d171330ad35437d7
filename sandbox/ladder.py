"""The host side of the ladder and of hook calls: the static gate, then a backend run.

This is what both clients (direct and through the runner) execute. The host decides: it
reads only the nonce-carrying report, re-validates every hook output against the API
(:func:`sandbox.contexts.validate_output`) and never trusts an exit code or module print.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NotRequired, TypedDict

from contract.hooks import HOOKS
from contract.limits import name_error
from sandbox import contexts
from sandbox.answers import (
    MAX_GATE_REASON_CHARS,
    CheckResult,
    LadderReport,
    MechanismOutput,
    Stage,
    StageResult,
    source_sha,
)
from sandbox.backends import Backend, SandboxRun, SandboxUnavailable
from sandbox.channel import seconds_of
from sandbox.gate import check_source
from sandbox.source_hooks import SourceHooks, source_hooks

# Whole-ladder deadline: import (~1-2 s with scikit-learn) + 4 contexts × 3 hooks × 2 calls,
# plus container start-up; a ladder that needs more is failing its per-call limits anyway.
LADDER_DEADLINE_S = 60.0
# Whole-batch deadline for one hook stage; per-mechanism limits inside are much tighter.
CALL_DEADLINE_S = 30.0
# A module's own prints kept in its report: the harness caps them at 4 KiB; the host cuts
# again so a report it cannot trust stays small whatever the sandbox sent.
MAX_MODULE_OUTPUT_CHARS = 4096


class _BackendFields(TypedDict):
    """The fields of a :class:`LadderReport` that say which module ran where."""

    sha: str
    backend: str
    warnings: list[str]
    isolation: str


class _Verdict(TypedDict):
    """The fields of a :class:`LadderReport` that :func:`_verdict` decides."""

    accepted: bool
    stage: Stage
    reason: str
    name: NotRequired[str | None]
    class_name: NotRequired[str | None]
    hooks: NotRequired[list[str]]


def _backend_fields(source: str, backend: Backend) -> _BackendFields:
    return {
        "sha": source_sha(source),
        "backend": backend.name,
        "warnings": list(backend.warnings),
        "isolation": backend.isolation,
    }


def space_dicts(space: Any) -> list[dict[str, Any]]:
    """A search space as plain dicts: a ``contract.space.SearchSpace``, a list of its
    ``Param``s, or of dicts already."""
    params = getattr(space, "params", space)
    return [dict(p) if isinstance(p, dict) else p.to_dict() for p in params]


def run_ladder(
    source: str,
    space: Any,
    *,
    backend: Backend,
    replays: list[dict[str, Any]] | None = None,
    filename: str = "mechanism.py",
    limits: dict[str, float] | None = None,
    deadline_s: float = LADDER_DEADLINE_S,
    iterations: int | None = None,
) -> LadderReport:
    """Static gate, smoke test and contract tests for one module. ``iterations`` is the
    study's length: the contract's long history is as long as a live one gets. Raises
    :class:`~sandbox.backends.SandboxUnavailable` only for infrastructure failures."""
    space = space_dicts(space)
    if not space:
        raise ValueError(
            "the search space is empty: the contract tests need the study's parameters"
        )
    start = time.perf_counter()
    try:
        gate = check_source(source, filename)
    except SandboxUnavailable:  # e.g. no sandbox lock to read the allowlist from
        raise
    except Exception as exc:  # the gate never crashes a check: an internal error rejects
        gate = _gate_failure(exc)
    checks = [CheckResult("static:gate", gate.ok, gate.seconds, "" if gate.ok else gate.reason)]
    checks += [CheckResult(f"static:line-{i.line}", False, 0.0, i.message) for i in gate.issues]
    timings = {"static": gate.seconds}
    base = _backend_fields(source, backend)
    if not gate.ok:
        timings["total"] = round(time.perf_counter() - start, 4)
        return LadderReport(
            accepted=False,
            stage="static",
            reason=f"static gate: {gate.reason}",
            checks=checks,
            timings=timings,
            **base,
        )
    return sandbox_ladder(
        source,
        space,
        backend=backend,
        replays=replays,
        filename=filename,
        limits=limits,
        deadline_s=deadline_s,
        iterations=iterations,
        prior_checks=checks,
        prior_timings=timings,
        started=start,
    )


def _gate_failure(exc: Exception) -> Any:
    from types import SimpleNamespace

    reason = f"internal error in the static gate ({type(exc).__name__}); simplify the module"
    return SimpleNamespace(ok=False, seconds=0.0, reason=reason, issues=[])


def sandbox_ladder(
    source: str,
    space: Any,
    *,
    backend: Backend,
    replays: list[dict[str, Any]] | None = None,
    filename: str = "mechanism.py",
    limits: dict[str, float] | None = None,
    deadline_s: float = LADDER_DEADLINE_S,
    iterations: int | None = None,
    prior_checks: list[CheckResult] | None = None,
    prior_timings: dict[str, float] | None = None,
    started: float | None = None,
) -> LadderReport:
    """The sandbox rungs (smoke, contract) alone, without the static gate.

    :func:`run_ladder` calls this after the gate; the attack suite calls it directly,
    because the sandbox must hold even for code the gate would have stopped. Raises only
    :class:`~sandbox.backends.SandboxUnavailable`; anything else that goes wrong is a
    rejection with a one-line reason.
    """
    start = started if started is not None else time.perf_counter()
    checks = list(prior_checks or [])
    timings = dict(prior_timings or {})
    base = _backend_fields(source, backend)

    def rejected(stage: Stage, reason: str, seconds: float = 0.0) -> LadderReport:
        checks.append(CheckResult(f"{stage}:host", False, seconds, reason))
        timings["total"] = round(time.perf_counter() - start, 4)
        return LadderReport(
            accepted=False, stage=stage, reason=reason, checks=checks, timings=timings, **base
        )

    declared = source_hooks(source)
    if declared.problem:
        return rejected("smoke", f"smoke test: {declared.problem}")
    request = {
        "op": "ladder",
        "mechanisms": [
            {"name": filename.removesuffix(".py"), "source": source, "filename": filename}
        ],
        "hooks": list(declared.hooks),
        "space": space_dicts(space),
        "replays": replays or [],
        "iterations": iterations,
        "limits": limits or {},
    }
    run = backend.run(request, deadline_s=deadline_s)
    timings["sandbox"] = run.seconds
    try:
        verdict = _verdict(run.report, run.error, declared, checks, run.seconds)
    except Exception as exc:  # a report this code cannot read is a rejection, never a crash
        return rejected("smoke", f"sandbox: unreadable report ({type(exc).__name__})")
    timings["total"] = round(time.perf_counter() - start, 4)
    output = run.report.get("module_output") if isinstance(run.report, dict) else None
    return LadderReport(
        checks=checks,
        timings=timings,
        module_output=output[:MAX_MODULE_OUTPUT_CHARS] if isinstance(output, str) else "",
        **verdict,
        **base,
    )


def _verdict(
    report: dict[str, Any] | None,
    run_error: str,
    declared: SourceHooks,
    checks: list[CheckResult],
    seconds: float,
) -> _Verdict:
    """The verdict fields, decided here from the supervisor's report and the source's hooks."""
    if report is None or "error" in report:
        why = run_error if report is None else one_line(report["error"])
        checks.append(CheckResult("sandbox:run", False, seconds, why))
        return {"accepted": False, "stage": "smoke", "reason": f"sandbox: {why}"}
    raw_checks = report.get("checks")
    for c in raw_checks if isinstance(raw_checks, list) else []:
        c = c if isinstance(c, dict) else {}
        checks.append(
            CheckResult(
                one_line(c.get("name")),
                c.get("ok") is True,
                seconds_of(c),
                one_line(c.get("detail")),
            )
        )
    stage: Stage = "contract" if report.get("stage") == "contract" else "smoke"
    name = raw_name if isinstance(raw_name := report.get("name"), str) else None
    class_name = raw_class if isinstance(raw_class := report.get("class"), str) else None
    hooks = raw_hooks if isinstance(raw_hooks := report.get("hooks"), list) else []
    reason = one_line(report.get("reason"))

    def verdict(accepted: bool, why: str) -> _Verdict:
        return {
            "accepted": accepted,
            "stage": stage,
            "reason": why,
            "name": name,
            "class_name": class_name,
            "hooks": list(declared.hooks),
        }

    if report.get("accepted") is not True:
        return verdict(False, reason or "rejected in the sandbox")
    problem = _acceptance_problem(checks, declared, stage, name, class_name, hooks)
    if problem:
        return verdict(False, f"sandbox report not accepted: {problem}")
    # Counted here, over every check the report carries (the static gate's included): the
    # harness's own count misses the host-side checks, and a reason must match the list.
    return verdict(True, f"passed {len(checks)} checks")


def _acceptance_problem(
    checks: list[CheckResult],
    declared: SourceHooks,
    stage: str,
    name: str | None,
    class_name: str | None,
    hooks: list[Any],
) -> str | None:
    """Why an "accepted" report does not show every contract test passing, or None."""
    if stage != "contract":
        return "it stopped before the contract tests"
    if not all(c.ok for c in checks):
        return "a check failed"
    if name_error(name) is not None:
        return "the mechanism's name is not a short lowercase identifier"
    if class_name != declared.class_name:
        return f"the loaded class is not {declared.class_name}, the one its source defines"
    if sorted(map(str, hooks)) != sorted(declared.hooks):
        return "the tested hooks differ from the ones its source defines"
    if [c.name for c in checks].count("smoke:load") != 1:
        return "no smoke test"
    per_hook = [sum(c.name.startswith(f"{h}:") for c in checks) for h in declared.hooks]
    if min(per_hook) < 1 or len(set(per_hook)) != 1:
        return "not every hook was tested on every contract context"
    return None


def one_line(value: Any, max_chars: int = MAX_GATE_REASON_CHARS) -> str:
    """Attacker-reachable text as one bounded line (non-text becomes a placeholder)."""
    text = value if isinstance(value, str) else ("" if value is None else "(non-text value)")
    return " ".join(text.split())[:max_chars]


def call_stage(
    stage: str,
    mechanisms: list[tuple[str, str, str]],
    context: dict[str, Any],
    candidates: list[dict[str, Any]] | None = None,
    *,
    backend: Backend,
    limits: dict[str, float] | None = None,
    deadline_s: float = CALL_DEADLINE_S,
) -> StageResult:
    """Call one hook on a batch of mechanisms ``(name, sha, source)``; never raises for a
    mechanism's failure (that is its entry's ``error``), only for infrastructure.

    Each mechanism runs in a sandbox of its own (its own container or jail, pid namespace,
    files and channel), all in parallel: no mechanism can read, signal or write another's
    process, files or output, and one mechanism's failure is never its batch's.
    """
    if stage not in HOOKS:
        raise ValueError(f"unknown hook stage {stage!r}; use one of {', '.join(HOOKS)}")
    if stage == "screen" and candidates is None:
        raise ValueError("the screen stage needs the candidates to screen")
    start = time.perf_counter()
    if not mechanisms:
        return StageResult(
            stage=stage, outputs=[], seconds=0.0, backend=backend.name, isolation=backend.isolation
        )

    def one(mechanism: tuple[str, str, str]) -> MechanismOutput:
        name, sha, source = mechanism
        request = {
            "op": "call",
            "stage": stage,
            "mechanisms": [{"name": name, "sha": sha, "source": source}],
            "context": context,
            "candidates": candidates,
            "limits": limits or {},
        }
        run = backend.run(request, deadline_s=deadline_s)
        try:
            return _mechanism_output(stage, name, sha, run, context, candidates)
        except Exception as exc:  # this mechanism's answer could not be read: its failure
            return MechanismOutput(
                name, sha, False, error=f"unreadable output ({type(exc).__name__})"
            )

    with ThreadPoolExecutor(max_workers=len(mechanisms), thread_name_prefix="sandbox-call") as pool:
        futures = [pool.submit(one, m) for m in mechanisms]
        outputs, unavailable = [], []
        for (name, sha, _), future in zip(mechanisms, futures, strict=True):
            try:
                outputs.append(future.result())
            except SandboxUnavailable as exc:
                unavailable.append(exc)
                outputs.append(MechanismOutput(name, sha, False, error=f"sandbox: {exc}"))
    if unavailable and len(unavailable) == len(mechanisms):
        raise unavailable[0]  # the sandbox itself is down: infrastructure, not a verdict
    seconds = round(time.perf_counter() - start, 4)
    return StageResult(
        stage=stage,
        outputs=outputs,
        seconds=seconds,
        backend=backend.name,
        isolation=backend.isolation,
    )


def _mechanism_output(
    stage: str,
    name: str,
    sha: str,
    run: SandboxRun,
    context: dict[str, Any],
    candidates: list[dict[str, Any]] | None,
) -> MechanismOutput:
    """One mechanism's entry, validated here, from its own sandbox run."""
    report = run.report
    entries = report.get("outputs") if isinstance(report, dict) else None
    if report is None or "error" in report or not isinstance(entries, list) or len(entries) != 1:
        why = run.error or one_line((report or {}).get("error")) or "the sandbox sent no output"
        return MechanismOutput(name, sha, False, error=f"sandbox: {why}", seconds=run.seconds)
    out = entries[0] if isinstance(entries[0], dict) else {}
    ok = out.get("ok") is True and out.get("name") == name
    error = one_line(out.get("error")) if not ok else ""
    if ok and (problem := contexts.validate_output(stage, out.get("value"), context, candidates)):
        ok, error = False, one_line(problem)
    return MechanismOutput(
        name=name,
        sha=sha,
        ok=ok,
        value=out.get("value") if ok else None,
        error=error or ("" if ok else "failed"),
        seconds=seconds_of(out),
        output=text if isinstance(text := out.get("output"), str) else "",
        cpu_seconds=seconds_of(out, "cpu_seconds") if "cpu_seconds" in out else None,
    )
