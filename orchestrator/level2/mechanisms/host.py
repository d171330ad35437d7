"""The live mechanism host: runs promoted mechanisms' hooks through the sandbox.

Per iteration the study loop calls :meth:`guide`, :meth:`propose` and :meth:`screen`
(DESIGN §4.2 "One iteration"); each is **one** sandbox call for all active mechanisms of
that stage. The host never imports generated code: it hands ``(name, sha, source)`` to the
sandbox client and checks the JSON that comes back (:mod:`orchestrator.level2.mechanisms.outputs`).

Changes to the active set happen only at iteration boundaries (:meth:`boundary`): queued
promotions go live there, and a mechanism whose circuit breaker tripped (N errors,
timeouts or invalid outputs, or a harmful *effect*: see :mod:`orchestrator.level2.mechanisms.breaker`),
or that a live audit caught answering differently on a replay (:mod:`.audit`), is reverted
there. Between boundaries a tripped mechanism is simply no longer called, so one
bad module costs the study at most N bad calls.

Every string that comes back from the sandbox (errors, hints, rationales, reasons) is
attacker-controlled: it is cleaned here, where it enters the host, with
:func:`sandbox.text.clean_text`, before the journal, the terminal or a prompt sees it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from contract.hooks import HOOKS, Context, Hook
from contract.limits import MAX_HINT_CHARS, MAX_RATIONALE_CHARS, MAX_REASON_CHARS
from contract.space import SearchSpace
from orchestrator.events import Event, MechanismPromoted, MechanismReverted
from orchestrator.level2.mechanisms.audit import BREAKER_AUDIT, Auditor, LiveCall
from orchestrator.level2.mechanisms.breaker import (
    BREAKER_ERRORS,
    SLOW_CALL_SECONDS,
    EffectTally,
    call_budget,
)
from orchestrator.level2.mechanisms.outputs import (
    InvalidOutput,
    check_candidates,
    check_guidance,
    check_verdicts,
)
from orchestrator.level2.mechanisms.store import StoredMechanism
from orchestrator.levels.proposals import (
    MECHANISM_PREFIX,
    HookOutcome,
    MechanismGuidance,
    Proposal,
    ScreenVerdict,
)
from sandbox.backends.base import SandboxUnavailable
from sandbox.text import clean_text

if TYPE_CHECKING:
    from sandbox.client import SandboxClient

# Failures (errors, timeouts, invalid outputs) before a mechanism is reverted. One is too
# twitchy for a sandbox that can time out under load; the paper's self-healing revert
# acted after repeated failure too.
DEFAULT_MAX_FAILURES = 3

# Longest failure reason kept per call (journaled with the revert).
MAX_ERROR_CHARS = 300

Emit = Callable[[Event], object]  # emit(event): journal the event, fold it into state


@dataclass
class LiveMechanism:
    """A promoted mechanism and what it has done so far in this process."""

    stored: StoredMechanism
    session: int | None = None
    active_from: int = 0
    hooks: tuple[str, ...] = HOOKS  # the hooks it overrides: only those stages call it
    calls: int = 0
    failures: int = 0
    last_error: str = ""
    fired_stages: dict[str, int] = field(default_factory=dict)
    effects: EffectTally = field(default_factory=EffectTally)
    # Set when a successor that supersedes it is queued: from then on it is not called,
    # though its revert is journaled at the next boundary with the successor's promotion.
    superseded_by: str = ""

    @property
    def name(self) -> str:
        return self.stored.name


@dataclass
class Promotion:
    """A mechanism that passed the ladder, waiting for the next iteration boundary."""

    stored: StoredMechanism
    session: int | None = None
    supersedes: tuple[str, ...] = ()
    hooks: tuple[str, ...] = HOOKS


@dataclass
class StageCall:
    """What one hook stage produced: per-mechanism raw outputs and failures."""

    outputs: dict[str, object]  # raw hook output: checked by .outputs before use
    errors: dict[str, str]  # per mechanism: counted by its circuit breaker
    unavailable: str = ""  # the sandbox itself could not run: no mechanism is at fault
    seconds: dict[str, float] = field(default_factory=dict)  # per mechanism, load included


def run_stage(
    client: SandboxClient,
    stage: Hook,
    mechanisms: list[StoredMechanism],
    context: dict[str, Any],
    candidates: list[dict[str, Any]] | None = None,
) -> StageCall:
    """One sandbox call for ``stage`` across ``mechanisms``; never raises for a module's fault."""
    if not mechanisms:
        return StageCall(outputs={}, errors={})
    try:
        result = client.call(
            stage,
            mechanisms=[m.ref() for m in mechanisms],
            context=context,
            candidates=candidates,
        )
    except SandboxUnavailable as exc:  # infrastructure (runner gone, no engine): skip the stage
        return StageCall(outputs={}, errors={}, unavailable=clean_text(exc, MAX_ERROR_CHARS))
    # The call failed some other way that is not a bug of ours: an OS or engine error, a
    # timeout, an answer that could not be read (ValueError). Every mechanism in it failed.
    except (OSError, TimeoutError, ValueError) as exc:
        reason = clean_text(f"sandbox call failed: {type(exc).__name__}: {exc}", MAX_ERROR_CHARS)
        return StageCall(outputs={}, errors={m.name: reason for m in mechanisms})
    try:
        data = result.to_dict()
        items = [o for o in data.get("outputs", []) if isinstance(o, dict)]
    except (TypeError, ValueError) as exc:  # a malformed answer: every mechanism in it failed
        reason = clean_text(f"malformed sandbox answer: {type(exc).__name__}", MAX_ERROR_CHARS)
        return StageCall(outputs={}, errors={m.name: reason for m in mechanisms})
    by_name = {o.get("name"): o for o in items}
    outputs: dict[str, object] = {}
    errors: dict[str, str] = {}
    seconds: dict[str, float] = {}
    for m in mechanisms:
        item = by_name.get(m.name) or next((o for o in items if o.get("sha") == m.sha), None)
        if item is None:
            errors[m.name] = data.get("error") or "the sandbox returned no output for it"
        elif item.get("ok") is True:
            outputs[m.name] = item.get("value")
        else:
            errors[m.name] = item.get("error") or data.get("error") or "failed"
        if m.name in errors:  # module-controlled text: cleaned where it enters the host
            errors[m.name] = clean_text(errors[m.name], MAX_ERROR_CHARS)
        if item is not None:  # CPU seconds where the sandbox reports them (wall on old images)
            cpu = item.get("cpu_seconds")
            seconds[m.name] = _seconds(item.get("seconds") if cpu is None else cpu)
    return StageCall(outputs=outputs, errors=errors, seconds=seconds)


def _seconds(value: object) -> float:
    """A reported duration as a float; anything that is not a finite number counts as 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        return 0.0
    return number if math.isfinite(number) else 0.0


class LiveMechanismHost:
    """Active mechanisms of one study, their firing records and their circuit breakers."""

    def __init__(
        self,
        client: SandboxClient,
        *,
        max_failures: int = DEFAULT_MAX_FAILURES,
        slow_call_seconds: float = SLOW_CALL_SECONDS,
        auditor: Auditor | None = None,
    ) -> None:
        """``auditor``: replays live calls in a fresh sandbox (:mod:`.audit`); a study's
        host has one (``make_level2``), a bare host audits nothing."""
        self.client = client
        self.auditor = auditor
        self.max_failures = max_failures
        self.slow_call_seconds = slow_call_seconds  # a hook call's CPU budget, load included
        self.call_budget_s = slow_call_seconds  # raised at each boundary for costly trials
        self._live: dict[str, LiveMechanism] = {}
        self._pending: list[Promotion] = []
        self._lock = threading.Lock()  # guards _pending: research threads queue promotions

    # ------------------------------------------------------------------ active set
    def active(self) -> list[str]:
        """Names of the mechanisms that are called (not tripped)."""
        return [m.name for m in self._callable()]

    def live(self) -> list[LiveMechanism]:
        return list(self._live.values())

    def _callable(self) -> list[LiveMechanism]:
        return [
            m
            for m in self._live.values()
            if m.failures < self.max_failures and not m.effects.tripped and not m.superseded_by
        ]

    def queue_promotion(self, promotion: Promotion) -> None:
        """Thread-safe: a research session hands over a mechanism that passed the ladder.
        The mechanisms it supersedes stop proposing now, not one trial later."""
        with self._lock:
            self._pending.append(promotion)
            for name in self._superseded(promotion):
                self._live[name].superseded_by = promotion.stored.name

    def _superseded(self, promotion: Promotion) -> list[str]:
        """Live mechanisms a promotion names as superseded, however the model spelled them
        (``mechanism:gp_ei``, ``GP_EI``); never the promoted mechanism itself."""
        wanted = {supersedes_key(n) for n in promotion.supersedes}
        return [
            name
            for name in self._live
            if supersedes_key(name) in wanted and name != promotion.stored.name
        ]

    def restore(self, mechanism: LiveMechanism) -> None:
        """Re-activate a mechanism on ``--resume`` (already journaled: emits nothing)."""
        self._live[mechanism.name] = mechanism

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def boundary(
        self,
        iteration: int,
        emit: Emit,
        history: list[dict[str, Any]] | None = None,
        trial_seconds: float | None = None,
    ) -> tuple[list[str], list[str]]:
        """Apply trip-reverts and queued promotions, journaling each through ``emit``.
        Called between trials only; returns the names promoted and reverted. ``history``
        (finished trials, as in a context) lets the effect breaker judge the trials that
        just finished before the next one is planned; ``trial_seconds`` (a typical trial's
        training time) sets how much CPU a hook call may take before it counts as slow."""
        self.call_budget_s = call_budget(trial_seconds, self.slow_call_seconds)
        promoted: list[str] = []
        reverted: list[str] = []
        self._take_audits()
        for m in list(self._live.values()):
            m.effects.settle(iteration)  # planning moved on: the screened trial is settled
            if history is not None:
                m.effects.note_history(m.name, m.active_from, history)
            if m.failures >= self.max_failures:
                reverted.append(m.name)
                reason = f"circuit breaker: {m.last_error}"
                self._revert(m, iteration, emit, reason, breaker=BREAKER_ERRORS)
            elif m.effects.tripped:
                reverted.append(m.name)
                reason = f"circuit breaker (effect): {m.effects.reason}"
                self._revert(m, iteration, emit, reason, breaker=m.effects.tripped)
        with self._lock:
            pending, self._pending = self._pending, []
        for promo in pending:
            superseded = self._superseded(promo)
            for name in superseded:
                reverted.append(name)
                self._revert(
                    self._live[name], iteration, emit, f"superseded by {promo.stored.name}"
                )
            if promo.stored.name in self._live:  # a new version of the same mechanism
                old = self._live[promo.stored.name]
                self._revert(old, iteration, emit, "replaced by a new version")
            self._live[promo.stored.name] = LiveMechanism(
                stored=promo.stored,
                session=promo.session,
                active_from=iteration,
                hooks=promo.hooks,
            )
            promoted.append(promo.stored.name)
            emit(
                MechanismPromoted(
                    session=promo.session,
                    name=promo.stored.name,
                    sha=promo.stored.sha,
                    path=promo.stored.path,
                    active_from=iteration,
                    supersedes=superseded,
                    hooks=list(promo.hooks),
                )
            )
        return promoted, reverted

    def _revert(
        self, m: LiveMechanism, iteration: int, emit: Emit, reason: str, breaker: str = ""
    ) -> None:
        self._live.pop(m.name, None)
        event = MechanismReverted(
            name=m.name,
            sha=m.stored.sha,
            iteration=iteration,
            reason=clean_text(reason, MAX_ERROR_CHARS),
            failures=m.failures,
        )
        if breaker:  # only on a circuit-breaker revert: absent otherwise
            event.breaker = breaker
        emit(event)

    def _take_audits(self) -> None:
        """Trip every mechanism a live audit caught answering differently on a replay: it
        is no longer called, and the next boundary reverts it with the audit's reason."""
        if self.auditor is None:
            return
        for finding in self.auditor.findings():
            m = self._live.get(finding.name)
            if m is not None and m.stored.sha == finding.sha:
                m.effects.trip(BREAKER_AUDIT, finding.reason)

    def close(self) -> None:
        """The study is over: stop auditing (replays in flight get a moment to finish)."""
        if self.auditor is not None:
            self.auditor.close()

    # ------------------------------------------------------------------ hooks
    def _fire(self, name: str, stage: str) -> None:
        m = self._live.get(name)
        if m is not None:
            m.fired_stages[stage] = m.fired_stages.get(stage, 0) + 1

    def _fail(self, name: str, reason: str, errors: list[str]) -> None:
        reason = clean_text(reason, MAX_ERROR_CHARS)  # InvalidOutput quotes module values
        m = self._live.get(name)
        if m is not None:
            m.failures += 1
            m.last_error = reason
        errors.append(f"{name}: {reason}")

    def _call(
        self,
        stage: Hook,
        ctx: Context,
        errors: list[str],
        candidates: list[dict[str, Any]] | None = None,
    ) -> dict[str, object]:
        self._take_audits()
        mechanisms = [m for m in self._callable() if stage in m.hooks]
        context = ctx.to_dict()  # the process boundary: the sandbox receives JSON
        call = run_stage(self.client, stage, [m.stored for m in mechanisms], context, candidates)
        for m in mechanisms:
            if self.auditor is not None and m.name in call.outputs:
                self.auditor.consider(
                    LiveCall(m.stored, stage, context, candidates, call.outputs[m.name], m.calls)
                )
            m.calls += 1
            if m.name in call.seconds:
                m.effects.note_call_seconds(call.seconds[m.name], self.call_budget_s)
        for name, reason in call.errors.items():
            self._fail(name, f"{stage}: {reason}", errors)
        if call.unavailable:
            errors.append(f"sandbox unavailable, {stage} skipped: {call.unavailable}")
        return call.outputs

    def guide(self, ctx: Context) -> HookOutcome:
        """Guidance of every active mechanism; a non-empty one counts as firing."""
        out = HookOutcome()
        space = space_of(ctx)
        self._check_effects(ctx)
        for name, raw in self._call("guide", ctx, out.errors).items():
            try:
                guidance = check_guidance(raw, space)
            except InvalidOutput as exc:
                self._fail(name, str(exc), out.errors)
                continue
            if guidance.hint or guidance.focus:
                self._fire(name, "guide")
                out.fired.append(name)
                hint = clean_text(guidance.hint, MAX_HINT_CHARS)
                out.guidance.append(
                    MechanismGuidance(mechanism=name, hint=hint, focus=tuple(guidance.focus))
                )
        return out

    def propose(self, ctx: Context) -> HookOutcome:
        """Candidates added by active mechanisms. Adding one is not yet firing: a
        mechanism fires through ``propose`` only when its candidate is the one that runs,
        which the planner records in the trial's ``fired``."""
        out = HookOutcome()
        space = space_of(ctx)
        for name, raw in self._call("propose", ctx, out.errors).items():
            try:
                candidates = check_candidates(raw, space)
            except InvalidOutput as exc:
                self._fail(name, str(exc), out.errors)
                continue
            out.candidates.extend(
                Proposal(
                    changes=c.changes,
                    source=f"{MECHANISM_PREFIX}{name}",
                    rationale=clean_text(c.rationale, MAX_RATIONALE_CHARS),
                    priority=c.priority,
                )
                for c in candidates
            )
        return out

    def screen(self, ctx: Context, candidates: list[Proposal]) -> HookOutcome:
        """One verdict per candidate: accepted only if every active mechanism accepts."""
        out = HookOutcome(verdicts=[ScreenVerdict() for _ in candidates])
        if not candidates:
            return out
        payload = [c.candidate().to_dict() for c in candidates]
        iteration = ctx.iteration
        for name, raw in self._call("screen", ctx, out.errors, payload).items():
            try:
                verdicts = check_verdicts(raw, len(candidates))
            except InvalidOutput as exc:
                self._fail(name, str(exc), out.errors)
                continue
            m = self._live.get(name)
            if m is not None:
                vetoed = sum(1 for v in verdicts if not v.accept)
                m.effects.note_screen(iteration, len(candidates), vetoed)
            for i, verdict in enumerate(verdicts):
                if not verdict.accept and out.verdicts[i].accept:
                    reason = clean_text(verdict.reason, MAX_REASON_CHARS)
                    out.verdicts[i] = ScreenVerdict(accept=False, reason=reason, mechanism=name)
                if not verdict.accept and name not in out.fired:
                    out.fired.append(name)
                    self._fire(name, "screen")
        return out

    def _check_effects(self, ctx: Context) -> None:
        """Planning of a new trial starts: settle each mechanism's effect records (the trials
        it screened, the outcomes of its chosen candidates) and stop calling a harmful one;
        it is reverted, with the reason, at the next boundary."""
        iteration = ctx.iteration
        history = [t.to_dict() for t in ctx.history]
        for m in self._live.values():
            m.effects.settle(iteration)
            m.effects.note_history(m.name, m.active_from, history)


def supersedes_key(name: str) -> str:
    """A mechanism name as a ``supersedes`` entry is matched: no source prefix, any case."""
    return str(name).strip().removeprefix("mechanism:").strip().lower()


def space_of(ctx: Context) -> SearchSpace:
    """The search space a context was built with (policy-frozen params marked frozen)."""
    return SearchSpace(params=tuple(ctx.space))
