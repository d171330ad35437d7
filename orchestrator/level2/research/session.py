"""One research session: explore → critique → specify → generate → ladder (→ repair).

A session runs in a background thread (see :mod:`orchestrator.level2.research.driver`) against a
:class:`~orchestrator.level2.research.rounds.Brief` snapshot, so it never reads state the study
loop is changing. Every round, every gate verdict and the outcome are journaled; a module
that passes the ladder is stored content-addressed and handed to the live host, which
activates it at the next iteration boundary.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from contract.limits import MAX_NAME_CHARS
from orchestrator.agent.base import AGENT_FAILURES
from orchestrator.events import Event, GateVerdict, ResearchFinished, ResearchRound
from orchestrator.level2.mechanisms.host import Promotion
from orchestrator.level2.mechanisms.store import safe_name, store_mechanism
from orchestrator.level2.research import prompts
from orchestrator.level2.research.imports import missing_packages
from orchestrator.level2.research.rounds import (
    Brief,
    CritiqueReply,
    ExploreReply,
    GenerateReply,
    SpecifyReply,
)
from sandbox.answers import MAX_GATE_REASON_CHARS, source_sha
from sandbox.backends.base import SandboxUnavailable
from sandbox.text import clean_text

# Repair attempts after the first generated module fails the ladder. Two repairs fix most
# syntax and contract slips; beyond that the idea itself is usually the problem.
DEFAULT_MAX_REPAIRS = 2
# Rejected attempts are kept for audit under runs/<study>/research/<session>/.
ATTEMPTS_DIRNAME = "research"


@dataclass(frozen=True)
class LadderVerdict:
    """What the gate ladder said about one module."""

    accepted: bool
    stage: str  # static | smoke | contract
    reason: str = ""
    name: str = ""  # the Mechanism subclass's ``name``, when the ladder found it
    hooks: tuple[str, ...] = ()  # the hooks it overrides, when the ladder found them


class Ladder(Protocol):
    def check(
        self, source: str, *, replays: list[dict[str, Any]] | None = None
    ) -> LadderVerdict: ...


class Asker(Protocol):
    """The agent seam (:class:`orchestrator.agent.Agent`)."""

    def ask(
        self, role: str, *, system: str, user: str, payload: dict[str, Any], reply: Any
    ) -> Any: ...


@dataclass(frozen=True)
class SessionOutcome:
    outcome: str  # promoted | rejected | discarded | failed
    mechanism: str = ""
    reason: str = ""
    promotion: Promotion | None = None
    missing: tuple[str, ...] = ()


Emit = Callable[[Event], Any]  # journal the event (None once the study has ended)
# What ends a session as "failed" without stopping the study: the agent failed for good
# (LLM down, cost cap, invalid replies), the sandbox is unreachable, or the run folder
# cannot be written. Anything else is a bug and is raised (see ResearchSession.run).
SESSION_FAILURES: tuple[type[Exception], ...] = (*AGENT_FAILURES, SandboxUnavailable, OSError)


class ResearchSession:
    """Runs the four rounds and the ladder for one brief."""

    def __init__(
        self,
        brief: Brief,
        agent: Asker,
        ladder: Ladder,
        emit: Emit,
        run_dir: Path,
        *,
        max_repairs: int = DEFAULT_MAX_REPAIRS,
        blocked_shas: frozenset[str] = frozenset(),
        replays: list[dict[str, Any]] | None = None,
        discard_reason: str = "",
    ) -> None:
        self.brief = brief
        # Non-empty: a module that passes the ladder is discarded with this reason instead
        # of promoted (the ablation's null-Level-2 control); the session runs otherwise alike.
        self.discard_reason = discard_reason
        self.agent = agent
        self.ladder = ladder
        self.emit = emit
        self.run_dir = Path(run_dir)
        self.max_repairs = max_repairs
        self.blocked_shas = blocked_shas  # live or reverted: never promoted (again)
        self.replays = replays or []  # the study's recent live contexts, for the contract tests

    def _payload(self, **rounds: Any) -> dict[str, Any]:
        """What the built-in agent reads instead of prose: the brief and earlier rounds."""
        brief = self.brief
        data = asdict(brief)
        data.pop("api_source", None)  # prose for an LLM; the builtin reads its own library
        # The study's shapes in their JSON form, as a hook's context carries them.
        data["space"] = [p.to_dict() for p in brief.space]
        data["history"] = [t.to_dict() for t in brief.history]
        data["best"] = None if brief.best is None else brief.best.to_dict()
        for key, value in rounds.items():
            data[key] = value.model_dump(mode="json") if hasattr(value, "model_dump") else value
        return data

    def _ask(self, role: str, user: str, reply: type, **rounds: Any) -> Any:
        return self.agent.ask(
            role, system=prompts.SYSTEM, user=user, payload=self._payload(**rounds), reply=reply
        )

    def _round(self, name: str, summary: str, payload: dict[str, Any]) -> None:
        self.emit(
            ResearchRound(
                session=self.brief.session,
                round=name,
                summary=clean_text(summary, 300),  # LLM text: shown by status and reports
                payload=payload,
            )
        )

    def run(self) -> SessionOutcome:
        """The whole session. An LLM, sandbox or disk failure is an outcome (journaled), never
        an exception; a bug in our code is journaled as a failed session and then raised."""
        try:
            outcome = self._run()
        except SESSION_FAILURES as exc:  # an LLM or sandbox outage must not stop the study
            outcome = SessionOutcome("failed", reason=f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a bug: the session still ends in the journal, then surfaces
            self._finished(SessionOutcome("failed", reason=f"internal error: {type(exc).__name__}"))
            raise
        self._finished(outcome)
        return outcome

    def _finished(self, outcome: SessionOutcome) -> None:
        self.emit(
            ResearchFinished(
                session=self.brief.session,
                outcome=outcome.outcome,
                mechanism=clean_text(outcome.mechanism, MAX_NAME_CHARS),
                reason=clean_text(outcome.reason, 500),
                missing_packages=list(outcome.missing),
            )
        )

    def _run(self) -> SessionOutcome:
        b = self.brief
        explore: ExploreReply = self._ask("explore", prompts.explore_prompt(b), ExploreReply)
        self._round(
            "explore",
            explore.diagnosis or "; ".join(h.title for h in explore.hypotheses),
            explore.model_dump(mode="json"),
        )
        critique: CritiqueReply = self._ask(
            "critique", prompts.critique_prompt(b, explore), CritiqueReply, explore=explore
        )
        self._round(
            "critique",
            f"selected {critique.selected}: {critique.reason}",
            critique.model_dump(mode="json"),
        )
        spec: SpecifyReply = self._ask(
            "specify",
            prompts.specify_prompt(b, explore, critique),
            SpecifyReply,
            explore=explore,
            critique=critique,
        )
        self._round(
            "specify",
            f"{spec.name}: hooks {', '.join(spec.hooks)}; {spec.description}",
            spec.model_dump(mode="json"),
        )
        generated: GenerateReply = self._ask(
            "generate", prompts.generate_prompt(b, spec), GenerateReply, spec=spec
        )
        source = strip_fences(generated.source)
        self._round(
            "generate",
            f"{spec.name}: {len(source.splitlines())} lines, sha {source_sha(source)}",
            {
                "name": spec.name,
                "sha": source_sha(source),
                "source": source,
                "notes": generated.notes,
            },
        )
        return self._ladder_and_repair(spec, source)

    def _ladder_and_repair(self, spec: SpecifyReply, source: str) -> SessionOutcome:
        name = safe_name(spec.name)
        verdict = LadderVerdict(False, "static", "not checked")
        for attempt in range(self.max_repairs + 1):
            if attempt:
                repaired: GenerateReply = self._ask(
                    "repair",
                    prompts.repair_prompt(self.brief, spec, source, verdict.stage, verdict.reason),
                    GenerateReply,
                    spec=spec,
                    failed={"source": source, "stage": verdict.stage, "reason": verdict.reason},
                )
                source = strip_fences(repaired.source)
            sha = source_sha(source)
            if sha in self.blocked_shas:
                return SessionOutcome(
                    "discarded", name, f"module {sha} is already live or was reverted earlier"
                )
            started = time.monotonic()
            verdict = self.ladder.check(source, replays=self.replays)
            name = safe_name(verdict.name or name)  # the class's own name, once known
            missing = missing_packages(source, self.brief.allowlist) if not verdict.accepted else []
            # The ladder's reason quotes module output: cleaned before the journal and the
            # repair prompt see it (lines kept: a traceback is read line by line).
            reason = clean_text(verdict.reason, MAX_GATE_REASON_CHARS, multiline=True)
            if missing:
                reason = f"needs {', '.join(missing)}, not shipped in the sandbox: {reason}"
            self.emit(
                GateVerdict(
                    session=self.brief.session,
                    mechanism=name,
                    attempt=attempt,
                    accepted=verdict.accepted,
                    stage=verdict.stage,
                    reason=reason,
                    sha=sha,
                    path=self._keep_attempt(name, attempt, sha, source),
                    missing_packages=missing,
                    seconds=round(time.monotonic() - started, 3),
                )
            )
            if verdict.accepted and self.discard_reason:
                return SessionOutcome("discarded", name, self.discard_reason)
            if verdict.accepted:
                stored = store_mechanism(self.run_dir, name, source)
                promotion = Promotion(
                    stored=stored,
                    session=self.brief.session,
                    supersedes=tuple(spec.supersedes),
                    hooks=verdict.hooks or tuple(spec.hooks),
                )
                return SessionOutcome(
                    "promoted", name, "passed static, smoke and contract", promotion
                )
            verdict = LadderVerdict(False, verdict.stage, reason, verdict.name)
            if missing:  # a repair cannot add a package to the sandbox image
                return SessionOutcome("rejected", name, reason, missing=tuple(missing))
        return SessionOutcome(
            "rejected",
            name,
            f"failed the {verdict.stage} stage after {self.max_repairs} repairs: {verdict.reason}",
        )

    def _keep_attempt(self, name: str, attempt: int, sha: str, source: str) -> str:
        relative = f"{ATTEMPTS_DIRNAME}/session-{self.brief.session}/{name}-{attempt}-{sha}.py"
        path = self.run_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
        return relative


def strip_fences(source: str) -> str:
    """The module inside a markdown code fence, as chat models often wrap it."""
    lines = source.strip("\n").splitlines()
    if len(lines) >= 2 and lines[0].lstrip().startswith("```") and lines[-1].strip() == "```":
        return "\n".join(lines[1:-1]) + "\n"
    return source
