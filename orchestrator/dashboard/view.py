"""One study as the dashboard shows it, folded event by event from its journal.

:class:`StudyView` is updated with each event as it is read (:meth:`StudyView.apply`), so a
poll costs only what was appended since the last one. Trials, the incumbent, the metric,
the noise, the study's end, and Level 2's research sessions, mechanisms and timeline come
from the loop's own fold (:class:`orchestrator.state.StudyLog`, through its lenient
:meth:`~orchestrator.state.StudyLog.apply_lenient`), so the dashboard shows what the loop
decided from; only what the loop does not fold (policy changes and LLM calls one by one, the
arbiter's credit, training progress) is projected here. It tolerates what the journal
contract asks readers to tolerate (docs/journal.md): unknown event types and fields, missing
fields of old journals, events whose fields have the wrong type (they are skipped, not
fatal).

The metric is the study's own where the journal names it (``study_started.metric``,
``config.objective.metric``/``direction``, or ``result.metric``), else ``val_bpb``, lower is
better. Every string here is attacker-controlled text (mechanism names, hypotheses, LLM
output): it is cleaned when served (:mod:`orchestrator.dashboard.app`) and put into the page
as text, never as markup.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from contract.trials import NOISE_SOURCES
from orchestrator import journal as ev
from orchestrator.events import GateVerdict, ResearchRound, StudyFinished, TrialFinished
from orchestrator.metric import Metric
from orchestrator.patches import patch_sha_of, with_patch
from orchestrator.state import (
    PENDING,
    MechanismRecord,
    ResearchRecord,
    StudyLog,
    TrialRecord,
    parse_lenient,
)
from trainer.patch import patch_sha256

# Event type of per-trial training progress, read when a journal has it (step, loss,
# budget fraction of a trial still training). Not every writer journals progress.
TRIAL_PROGRESS = "trial_progress"
MECHANISM_PREFIX = "mechanism:"


def number(value: Any) -> float | None:
    """A finite float, or None (JSON has no NaN; bools are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _int(value: Any, default: int = -1) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    return default


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def _names(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass
class TrialView:
    """One trial as the dashboard shows it: a projection of the fold's :class:`TrialRecord`."""

    index: int
    status: str = "running"  # until its trial_finished
    value: float | None = None
    kept: bool = False
    best: float | None = None
    source: str = ""
    fired: list[str] = field(default_factory=list)
    changes: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    hypothesis: str = ""
    error: str = ""
    seconds: float | None = None
    proposed_at: str = ""
    finished_at: str = ""
    progress: dict[str, Any] = field(default_factory=dict)
    credit: float = 0.0
    # A code trial: its recipe diff's sha256 (trial_proposed) and text (the spec that ran).
    patch_sha256: str = ""
    patch: str = ""


# The mechanism page's names for the fold's states (orchestrator.state.MechanismRecord): a
# superseded mechanism was reverted for its successor, and its revert says so.
MECHANISM_STATUS = {"proposed": "candidate", "superseded": "reverted"}


def mechanism_status(record: MechanismRecord) -> str:
    """``candidate``, ``live``, ``reverted`` or ``rejected``: what the mechanism page says."""
    return MECHANISM_STATUS.get(record.state, record.state)


def verdict_row(verdict: GateVerdict) -> dict[str, Any]:
    """One ladder verdict as the mechanism and research pages show it."""
    return {
        "session": verdict.session,
        "mechanism": verdict.mechanism,
        "attempt": verdict.attempt,
        "accepted": verdict.accepted,
        "stage": verdict.stage,
        "reason": verdict.reason,
        "sha": verdict.sha,
        "path": verdict.path,
        "seconds": number(verdict.seconds),
        "missing_packages": list(verdict.missing_packages),
    }


def round_row(event: ResearchRound) -> dict[str, Any]:
    """One round of a research session as the research page shows it."""
    return {"round": event.round, "summary": event.summary, "payload": event.payload}


class StudyView:
    """The derived state of one journal; ``seq`` is the last event folded in."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.log = StudyLog()  # the loop's fold: trials, incumbent, metric, noise, the end
        self.seq = -1
        self.events = 0
        self.last_at = ""
        self.policy: list[dict[str, Any]] = []
        self.llm: list[dict[str, Any]] = []
        # The arbiter's credit per source before each choice (source_chosen events, when the
        # journal has them): [(trial index, {source: credit})].
        self.credits: list[tuple[int, dict[str, float | None]]] = []
        self._progress: dict[int, dict[str, Any]] = {}  # trial_progress of trials in flight
        # How much each search trial moved the incumbent when it finished (0: not at all).
        self._credit: dict[int, float] = {}

    # ------------------------------------------------------------------ folding
    def apply(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        self.events += 1
        seq = event.get("seq")
        self.seq = seq if isinstance(seq, int) and not isinstance(seq, bool) else self.seq + 1
        self.last_at = _str(event.get("ts")) or self.last_at
        parsed = parse_lenient(event)
        if parsed is None:  # a known type whose fields do not fit its model: skipped
            return
        before = self.log.best_value
        if not self.log.apply_lenient(parsed):
            return
        if isinstance(parsed, TrialFinished):
            self._finished(parsed, before)
        handler = _HANDLERS.get(str(kind))
        if handler is not None:
            # A projection that trips over an odd field skips it; the rest still shows.
            with contextlib.suppress(TypeError, ValueError, AttributeError):
                handler(self, event)

    def _finished(self, event: TrialFinished, before: float | None) -> None:
        self._progress.pop(event.index, None)
        record = self.log.trials.get(event.index)
        if record is None or record.source in NOISE_SOURCES:
            return
        after = self.log.best_value
        gain = self.metric.improvement(before, after) if before is not None else None
        self._credit[event.index] = gain if gain and gain > 0 else 0.0

    def _trial_progress(self, event: dict[str, Any]) -> None:
        index = _int(event.get("index"))
        record = self.log.trials.get(index)
        if index >= 0 and (record is None or record.status == PENDING):
            self._progress[index] = {
                "step": _int(event.get("step"), 0),
                "loss": number(event.get("loss")),
                "budget_frac": number(event.get("budget_frac")),
            }

    def _policy_changed(self, event: dict[str, Any]) -> None:
        self.policy.append(
            {
                "iteration": _int(event.get("iteration")),
                "at": _str(event.get("ts")),
                "diagnosis": _str(event.get("diagnosis")),
                "diff": _dict(event.get("diff")),
                "notes": _names(event.get("notes")),
            }
        )

    def _llm_call(self, event: dict[str, Any]) -> None:
        prompt = number(event.get("prompt_tokens")) or 0.0
        completion = number(event.get("completion_tokens")) or 0.0
        self.llm.append(
            {
                "seq": self.seq,
                "at": _str(event.get("ts")),
                "role": _str(event.get("role")),
                "model": _str(event.get("model")),
                "prompt_tokens": int(prompt),
                "completion_tokens": int(completion),
                "cost_usd": number(event.get("cost_usd")) or 0.0,
                "latency_s": number(event.get("latency_s")),
                "ok": bool(event.get("ok", True)),
                "error": _str(event.get("error")),
                "attempt": _int(event.get("attempt"), 0),
                "transcript": _str(event.get("transcript")),
            }
        )

    def _source_chosen(self, event: dict[str, Any]) -> None:
        credits = {
            str(source): number(_dict(entry).get("credit"))
            for source, entry in _dict(event.get("credits")).items()
        }
        self.credits.append((_int(event.get("index")), credits))

    # ------------------------------------------------------------------ queries
    @property
    def study(self) -> str:
        return self.log.study

    @property
    def agent(self) -> str:
        return self.log.agent

    @property
    def hardware(self) -> str:
        return self.log.hardware

    @property
    def config(self) -> dict[str, Any]:
        return self.log.study_config

    @property
    def started_at(self) -> str:
        return self.log.started_at

    @property
    def metric(self) -> Metric:
        return self.log.named_metric or Metric()

    @property
    def noise_floor(self) -> float | None:
        return number(self.log.noise_floor)

    @property
    def best_estimate(self) -> dict[str, Any] | None:
        """The incumbent as the mean of its evaluations (paired acceptance): {index, mean,
        n, low, high}; None where the journal carries none (strict, older journals)."""
        return self.log.best_estimate

    @property
    def summary(self) -> dict[str, Any] | None:
        end: StudyFinished | None = self.log.summary
        return end.record() if end is not None else None

    @property
    def phase(self) -> str | None:
        return self.log.phase

    @property
    def finished(self) -> bool:
        return self.log.summary is not None

    @property
    def mechanisms(self) -> dict[str, MechanismRecord]:
        """Every mechanism the study's research wrote, as the loop's fold has it."""
        return self.log.mechanisms

    @property
    def sessions(self) -> dict[int, ResearchRecord]:
        """Every research session, by number, as the loop's fold has it."""
        return self.log.research

    @property
    def markers(self) -> list[dict[str, Any]]:
        """The timeline's marks: research sessions, promotions, reverts, context resets."""
        return [
            {"iteration": m.iteration, "kind": m.kind, "label": m.label} for m in self.log.markers
        ]

    @property
    def trials(self) -> dict[int, TrialView]:
        return {index: self._trial(record) for index, record in self.log.trials.items()}

    def ordered(self) -> list[TrialView]:
        return [self._trial(record) for record in self.log.ordered()]

    def _trial(self, record: TrialRecord) -> TrialView:
        result = record.result
        running = record.status == PENDING
        config = dict(result.spec.config) if result and result.spec.config else record.config
        # A code trial: the proposal names its recipe diff; the spec that ran carries it.
        patch = result.spec.patch if result and isinstance(result.spec.patch, str) else ""
        sha = patch_sha256(patch) if patch else patch_sha_of(record.config) or ""
        return TrialView(
            index=record.index,
            status="running" if running else record.status,
            value=number(record.value) if record.status == "ok" else None,
            kept=record.kept,
            best=number(record.best_value),
            source=record.source,
            fired=list(record.fired),
            changes=dict(record.changes),
            config=with_patch(config, sha) if patch else config,
            hypothesis=record.hypothesis,
            error=record.error,
            seconds=number(result.train_seconds) if result else None,
            proposed_at=record.proposed_at,
            finished_at=record.finished_at,
            progress=dict(self._progress.get(record.index, {})) if running else {},
            credit=self._credit.get(record.index, 0.0),
            patch_sha256=sha,
            patch=patch,
        )

    def patch_text(self, sha: str) -> str | None:
        """The recipe diff named ``sha`` as a finished code trial ran it, or None."""
        return next((t.patch for t in self.ordered() if t.patch and t.patch_sha256 == sha), None)

    @property
    def best(self) -> float | None:
        return number(self.log.best_value)

    @property
    def baseline(self) -> float | None:
        baseline = self.log.baseline()
        return number(baseline.value) if baseline and baseline.status == "ok" else None

    @property
    def improvement(self) -> float | None:
        """Positive when the search beat the baseline, in either direction."""
        return self.metric.improvement(self.baseline, self.best)

    def last_time(self) -> datetime | None:
        try:
            return datetime.fromisoformat(self.last_at) if self.last_at else None
        except ValueError:
            return None


_HANDLERS = {
    TRIAL_PROGRESS: StudyView._trial_progress,
    ev.POLICY_CHANGED: StudyView._policy_changed,
    ev.LLM_CALL: StudyView._llm_call,
    ev.SOURCE_CHOSEN: StudyView._source_chosen,
}
