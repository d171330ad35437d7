"""The host side of the ladder and of hook calls: the static gate, then a backend run.

This is what both clients (direct and through the runner) execute. The host decides: it
reads only the nonce-carrying report, re-validates every hook output against the API
(:func:`sandbox.contexts.validate_output`) and never trusts an exit code or module print.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from sandbox import contexts
from sandbox.backends import Backend
from sandbox.gate import check_source
from sandbox.reports import CheckResult, LadderReport, MechanismOutput, StageResult

# Whole-ladder deadline: import (~1-2 s with scikit-learn) + 4 contexts × 3 hooks × 2 calls,
# plus container start-up; a ladder that needs more is failing its per-call limits anyway.
LADDER_DEADLINE_S = 60.0
# Whole-batch deadline for one hook stage; per-mechanism limits inside are much tighter.
CALL_DEADLINE_S = 30.0
HOOK_STAGES = ("guide", "propose", "screen")


def space_dicts(space: Any) -> list[dict[str, Any]]:
    """A search space as plain dicts: accepts ``trainer.spec.SearchSpace``, a list of its
    ``Param`` models, of :class:`sandbox.api.Param`, or of dicts already."""
    params = getattr(space, "params", space)
    out = []
    for p in params:
        if isinstance(p, dict):
            out.append(dict(p))
        elif hasattr(p, "model_dump"):
            out.append(p.model_dump(mode="json"))
        else:
            out.append(p.to_dict())
    return out


def source_sha(source: str) -> str:
    """Content address of a mechanism module (``mechanisms/<name>-<sha>.py``)."""
    return hashlib.sha256(source.encode()).hexdigest()


def run_ladder(
    source: str,
    space: Any,
    *,
    backend: Backend,
    replays: list[dict[str, Any]] | None = None,
    filename: str = "mechanism.py",
    limits: dict[str, float] | None = None,
    deadline_s: float = LADDER_DEADLINE_S,
) -> LadderReport:
    """Static gate, smoke test and contract tests for one module. Raises
    :class:`~sandbox.backends.SandboxUnavailable` only for infrastructure failures."""
    space = space_dicts(space)
    if not space:
        raise ValueError(
            "the search space is empty: the contract tests need the study's parameters"
        )
    start = time.perf_counter()
    sha = source_sha(source)
    gate = check_source(source, filename)
    checks = [CheckResult("static:gate", gate.ok, gate.seconds, "" if gate.ok else gate.reason)]
    checks += [CheckResult(f"static:line-{i.line}", False, 0.0, i.message) for i in gate.issues]
    timings = {"static": gate.seconds}
    base = {"sha": sha, "backend": backend.name, "warnings": list(backend.warnings)}
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
        prior_checks=checks,
        prior_timings=timings,
        started=start,
    )


def sandbox_ladder(
    source: str,
    space: Any,
    *,
    backend: Backend,
    replays: list[dict[str, Any]] | None = None,
    filename: str = "mechanism.py",
    limits: dict[str, float] | None = None,
    deadline_s: float = LADDER_DEADLINE_S,
    prior_checks: list[CheckResult] | None = None,
    prior_timings: dict[str, float] | None = None,
    started: float | None = None,
) -> LadderReport:
    """The sandbox rungs (smoke, contract) alone, without the static gate.

    :func:`run_ladder` calls this after the gate; the attack suite calls it directly,
    because the sandbox must hold even for code the gate would have stopped.
    """
    start = started if started is not None else time.perf_counter()
    checks = list(prior_checks or [])
    timings = dict(prior_timings or {})
    base = {"sha": source_sha(source), "backend": backend.name, "warnings": list(backend.warnings)}
    space = space_dicts(space)
    request = {
        "op": "ladder",
        "mechanisms": [
            {"name": filename.removesuffix(".py"), "source": source, "filename": filename}
        ],
        "space": space,
        "replays": replays or [],
        "limits": limits or {},
    }
    run = backend.run(request, deadline_s=deadline_s)
    timings["sandbox"] = run.seconds
    timings["total"] = round(time.perf_counter() - start, 4)
    report = run.report
    if report is None or "error" in report:
        why = run.error if report is None else str(report["error"])
        checks.append(CheckResult("sandbox:run", False, run.seconds, why))
        return LadderReport(
            accepted=False,
            stage="smoke",
            reason=f"sandbox: {why}",
            checks=checks,
            timings=timings,
            **base,
        )
    checks += [
        CheckResult(
            str(c.get("name")),
            c.get("ok") is True,
            float(c.get("seconds") or 0),
            str(c.get("detail") or ""),
        )
        for c in report.get("checks", [])
    ]
    stage = report.get("stage") if report.get("stage") in ("smoke", "contract") else "smoke"
    accepted = bool(report.get("accepted")) and stage == "contract" and all(c.ok for c in checks)
    reason = str(report.get("reason") or "")
    if report.get("accepted") and not accepted:
        reason = "the sandbox report is inconsistent (a check failed); rejected"
    return LadderReport(
        accepted=accepted,
        stage=stage,
        reason=reason,
        name=report.get("name"),
        class_name=report.get("class"),
        hooks=list(report.get("hooks") or []),
        checks=checks,
        timings=timings,
        module_output=str(report.get("module_output") or ""),
        **base,
    )


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
    mechanism's failure (that is its entry's ``error``), only for infrastructure."""
    if stage not in HOOK_STAGES:
        raise ValueError(f"unknown hook stage {stage!r}; use one of {', '.join(HOOK_STAGES)}")
    if stage == "screen" and candidates is None:
        raise ValueError("the screen stage needs the candidates to screen")
    start = time.perf_counter()
    request = {
        "op": "call",
        "stage": stage,
        "mechanisms": [{"name": n, "sha": s, "source": src} for n, s, src in mechanisms],
        "context": context,
        "candidates": candidates,
        "limits": limits or {},
    }
    run = backend.run(request, deadline_s=deadline_s)
    seconds = round(time.perf_counter() - start, 4)
    report = run.report
    if report is None or "error" in report or len(report.get("outputs", [])) != len(mechanisms):
        why = run.error or str(
            (report or {}).get("error") or "the sandbox answered for the wrong mechanisms"
        )
        failed = [
            MechanismOutput(name=n, sha=s, ok=False, error=f"sandbox: {why}")
            for n, s, _ in mechanisms
        ]
        return StageResult(
            stage=stage, outputs=failed, seconds=seconds, backend=backend.name, error=why
        )  # type: ignore[arg-type]
    outputs = []
    for (name, sha, _), out in zip(mechanisms, report["outputs"], strict=True):
        ok = out.get("ok") is True and out.get("name") == name
        error = str(out.get("error") or "")
        if ok and (
            problem := contexts.validate_output(stage, out.get("value"), context, candidates)
        ):
            ok, error = False, problem
        outputs.append(
            MechanismOutput(
                name=name,
                sha=sha,
                ok=ok,
                value=out.get("value") if ok else None,
                error=error if not ok else "",
                seconds=float(out.get("seconds") or 0.0),
                output=str(out.get("output") or ""),
            )
        )
    return StageResult(stage=stage, outputs=outputs, seconds=seconds, backend=backend.name)  # type: ignore[arg-type]
