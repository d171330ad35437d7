"""One study as the dashboard shows it, folded event by event from its journal.

:class:`StudyView` is updated with each event as it is read (:meth:`StudyView.apply`), so a
poll costs only what was appended since the last one. It tolerates what the journal contract
asks readers to tolerate (docs/journal.md): unknown event types and fields, missing fields of
old journals, events whose fields have the wrong type (they are skipped, not fatal).

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

from orchestrator import journal as ev
from orchestrator.events import CHALLENGE_DECIDED
from orchestrator.metric import DEFAULT_METRIC, DIRECTIONS, Direction, Metric
from orchestrator.patches import with_patch
from sandbox.api import BASELINE_SOURCE, NOISE_SOURCES
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


def metric_of(started: dict[str, Any]) -> tuple[str | None, Direction | None]:
    """(name, direction) a ``study_started`` event names, each None when it names none.

    The journal's own fields (``metric``, ``direction``: docs/journal.md) come first, then
    the study file's ``[objective] metric``/``direction``; ``metric`` may also be a
    ``{name, direction}`` object.
    """
    config = _dict(started.get("config"))
    objective = _dict(config.get("objective"))
    name: str | None = None
    direction: str | None = None
    for item in (started.get("metric"), objective.get("metric"), config.get("metric")):
        if isinstance(item, dict):
            direction = direction or item.get("direction")
            item = item.get("name")
        if isinstance(item, str) and item and name is None:
            name = item
    for item in (started.get("direction"), objective.get("direction"), config.get("direction")):
        direction = direction or item
    return name, (direction if direction in DIRECTIONS else None)


@dataclass
class Trial:
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


@dataclass
class Mechanism:
    name: str
    status: str = "candidate"  # candidate | live | reverted | rejected
    sha: str = ""
    path: str = ""
    hooks: list[str] = field(default_factory=list)
    session: int | None = None
    active_from: int | None = None
    reverted_at: int | None = None
    reason: str = ""
    verdicts: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Session:
    session: int
    trigger: str = ""
    iteration: int | None = None
    rounds: list[dict[str, Any]] = field(default_factory=list)
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    repairs: int = 0
    outcome: str = ""  # "" while it runs
    mechanism: str = ""
    reason: str = ""


class StudyView:
    """The derived state of one journal; ``seq`` is the last event folded in."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.study = ""
        self.agent = ""
        self.hardware = ""
        self.config: dict[str, Any] = {}
        self.metric = Metric()
        self._metric_named = False
        self.seq = -1
        self.events = 0
        self.started_at = ""
        self.last_at = ""
        self.trials: dict[int, Trial] = {}
        self.markers: list[dict[str, Any]] = []
        self.policy: list[dict[str, Any]] = []
        self.mechanisms: dict[str, Mechanism] = {}
        self.sessions: dict[int, Session] = {}
        self.llm: list[dict[str, Any]] = []
        # The arbiter's credit per source before each choice (source_chosen events, when the
        # journal has them): [(trial index, {source: credit})].
        self.credits: list[tuple[int, dict[str, float | None]]] = []
        self.noise_floor: float | None = None
        # The incumbent as the mean of its evaluations (paired acceptance): {index, mean, n,
        # low, high}; None where the journal carries none (strict, older journals).
        self.best_estimate: dict[str, Any] | None = None
        self.summary: dict[str, Any] | None = None
        self._best: float | None = None

    # ------------------------------------------------------------------ folding
    def apply(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        self.events += 1
        seq = event.get("seq")
        self.seq = seq if isinstance(seq, int) and not isinstance(seq, bool) else self.seq + 1
        self.last_at = _str(event.get("ts")) or self.last_at
        handler = _HANDLERS.get(str(kind))
        if handler is not None:
            # A malformed event of a known type is skipped; the rest of the journal still shows.
            with contextlib.suppress(TypeError, ValueError, AttributeError):
                handler(self, event)

    def _study_started(self, event: dict[str, Any]) -> None:
        self.study = _str(event.get("study")) or self.study
        self.agent = _str(event.get("agent")) or self.agent
        self.hardware = _str(event.get("hardware")) or self.hardware
        self.config = _dict(event.get("config")) or self.config
        self.started_at = self.started_at or _str(event.get("ts"))
        name, direction = metric_of(event)
        self.metric = Metric(
            name=name or self.metric.name, direction=direction or self.metric.direction
        )
        self._metric_named = self._metric_named or name is not None
        self.summary = None  # a resume: finished again only at its own study_finished

    def _trial(self, event: dict[str, Any]) -> Trial:
        index = _int(event.get("index"))
        if index < 0:
            raise ValueError("trial event without an index")
        return self.trials.setdefault(index, Trial(index=index))

    def _trial_proposed(self, event: dict[str, Any]) -> None:
        trial = self._trial(event)
        trial.changes = _dict(event.get("changes"))
        trial.config = _dict(event.get("config")) or trial.config
        trial.hypothesis = _str(event.get("hypothesis"))
        trial.source = _str(event.get("source")) or trial.source
        trial.fired = _names(event.get("fired"))
        trial.proposed_at = _str(event.get("ts"))
        trial.patch_sha256 = _str(event.get("patch_sha256"))

    def _trial_finished(self, event: dict[str, Any]) -> None:
        trial = self._trial(event)
        result = _dict(event.get("result"))
        trial.status = _str(result.get("status")) or "crashed"
        if not self._metric_named and isinstance(result.get("metric"), str) and result["metric"]:
            self.metric = Metric(name=result["metric"], direction=self.metric.direction)
            self._metric_named = True
        value = number(result.get("value"))
        if value is None:
            value = number(result.get(self.metric.name))
        if value is None:
            value = number(result.get(DEFAULT_METRIC))
        trial.value = value if trial.status == "ok" else None
        trial.kept = bool(event.get("kept"))
        trial.source = _str(event.get("source")) or trial.source
        if "fired" in event:
            trial.fired = _names(event.get("fired"))
        spec = _dict(result.get("spec"))
        trial.config = _dict(spec.get("config")) or trial.config
        if isinstance(spec.get("patch"), str):  # a code trial: the diff it ran, and its name
            trial.patch = spec["patch"]
            trial.patch_sha256 = patch_sha256(trial.patch)
            trial.config = with_patch(trial.config, trial.patch_sha256)
        trial.error = _str(result.get("error"))
        trial.seconds = number(result.get("train_seconds"))
        trial.finished_at = _str(event.get("ts"))
        trial.progress = {}
        if isinstance(event.get("best_estimate"), dict):
            self.best_estimate = event["best_estimate"]
        recorded = event.get("best_value", event.get("best_val_bpb"))
        best = number(recorded)
        if best is None and trial.source not in NOISE_SOURCES and trial.kept:
            best = trial.value
        if trial.source not in NOISE_SOURCES:
            before = self._best
            if best is not None:
                self._best = best
            trial.best = self._best
            gain = self.metric.improvement(before, self._best) if before is not None else None
            trial.credit = gain if gain and gain > 0 else 0.0

    def _trial_progress(self, event: dict[str, Any]) -> None:
        trial = self._trial(event)
        if trial.status == "running":
            trial.progress = {
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

    def _session(self, event: dict[str, Any]) -> Session:
        number_ = _int(event.get("session"))
        return self.sessions.setdefault(number_, Session(session=number_))

    def _research_started(self, event: dict[str, Any]) -> None:
        session = self._session(event)
        session.trigger = _str(event.get("trigger"))
        session.iteration = _int(event.get("iteration"))
        self.markers.append(
            {"iteration": session.iteration, "kind": "research", "label": f"#{session.session}"}
        )

    def _research_round(self, event: dict[str, Any]) -> None:
        self._session(event).rounds.append(
            {
                "round": _str(event.get("round")),
                "summary": _str(event.get("summary")),
                "payload": _dict(event.get("payload")),
            }
        )

    def _gate_verdict(self, event: dict[str, Any]) -> None:
        verdict: dict[str, Any] = {
            "session": _int(event.get("session")),
            "mechanism": _str(event.get("mechanism")),
            "attempt": _int(event.get("attempt"), 0),
            "accepted": bool(event.get("accepted")),
            "stage": _str(event.get("stage")),
            "reason": _str(event.get("reason")),
            "sha": _str(event.get("sha")),
            "path": _str(event.get("path")),
            "seconds": number(event.get("seconds")),
            "missing_packages": _names(event.get("missing_packages")),
        }
        session = self._session(event)
        session.verdicts.append(verdict)
        session.repairs = max(session.repairs, verdict["attempt"])
        mechanism = self.mechanisms.setdefault(
            verdict["mechanism"], Mechanism(name=verdict["mechanism"])
        )
        mechanism.verdicts.append(verdict)
        if mechanism.status in ("candidate", "rejected"):
            mechanism.status = "candidate" if verdict["accepted"] else "rejected"
            mechanism.session = verdict["session"]
            mechanism.sha = verdict["sha"] or mechanism.sha
            mechanism.path = mechanism.path or verdict["path"]
            if not verdict["accepted"]:
                mechanism.path = verdict["path"] or mechanism.path
                mechanism.reason = verdict["reason"]

    def _mechanism_promoted(self, event: dict[str, Any]) -> None:
        name = _str(event.get("name"))
        mechanism = self.mechanisms.setdefault(name, Mechanism(name=name))
        mechanism.status = "live"
        mechanism.sha = _str(event.get("sha"))
        mechanism.path = _str(event.get("path"))
        mechanism.hooks = _names(event.get("hooks"))
        mechanism.session = _int(event.get("session"))
        mechanism.active_from = _int(event.get("active_from"), 0)
        mechanism.reason = ""
        self.markers.append({"iteration": mechanism.active_from, "kind": "promoted", "label": name})

    def _mechanism_reverted(self, event: dict[str, Any]) -> None:
        name = _str(event.get("name"))
        mechanism = self.mechanisms.setdefault(name, Mechanism(name=name))
        mechanism.status = "reverted"
        mechanism.reverted_at = _int(event.get("iteration"), 0)
        mechanism.reason = _str(event.get("reason"))
        self.markers.append({"iteration": mechanism.reverted_at, "kind": "reverted", "label": name})

    def _research_finished(self, event: dict[str, Any]) -> None:
        session = self._session(event)
        session.outcome = _str(event.get("outcome")) or "finished"
        session.mechanism = _str(event.get("mechanism"))
        session.reason = _str(event.get("reason"))

    def _context_reset(self, event: dict[str, Any]) -> None:
        at = _int(event.get("from_index"), 0)
        self.markers.append(
            {"iteration": at, "kind": "restart", "label": _str(event.get("trigger"))}
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

    def _noise_floor(self, event: dict[str, Any]) -> None:
        self.noise_floor = number(event.get("floor"))

    def _challenge_decided(self, event: dict[str, Any]) -> None:
        """A race ended: a kept challenger is the incumbent from here on."""
        estimate = event.get("best_estimate")
        if isinstance(estimate, dict):
            self.best_estimate = estimate
            mean = number(estimate.get("mean"))
            if mean is not None:
                self._best = mean
        challenger = self.trials.get(_int(event.get("challenger")))
        if challenger is not None and event.get("verdict") == "accept":
            challenger.kept = True

    def _study_finished(self, event: dict[str, Any]) -> None:
        self.summary = event

    # ------------------------------------------------------------------ queries
    @property
    def finished(self) -> bool:
        return self.summary is not None

    def ordered(self) -> list[Trial]:
        return [self.trials[i] for i in sorted(self.trials)]

    def patch_text(self, sha: str) -> str | None:
        """The recipe diff named ``sha`` as a finished code trial ran it, or None."""
        return next((t.patch for t in self.ordered() if t.patch and t.patch_sha256 == sha), None)

    @property
    def best(self) -> float | None:
        return self._best

    @property
    def baseline(self) -> float | None:
        for trial in self.ordered():
            if trial.source == BASELINE_SOURCE and trial.value is not None:
                return trial.value
        return None

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
    ev.STUDY_STARTED: StudyView._study_started,
    ev.TRIAL_PROPOSED: StudyView._trial_proposed,
    ev.TRIAL_FINISHED: StudyView._trial_finished,
    TRIAL_PROGRESS: StudyView._trial_progress,
    ev.POLICY_CHANGED: StudyView._policy_changed,
    ev.RESEARCH_STARTED: StudyView._research_started,
    ev.RESEARCH_ROUND: StudyView._research_round,
    ev.GATE_VERDICT: StudyView._gate_verdict,
    ev.MECHANISM_PROMOTED: StudyView._mechanism_promoted,
    ev.MECHANISM_REVERTED: StudyView._mechanism_reverted,
    ev.RESEARCH_FINISHED: StudyView._research_finished,
    ev.CONTEXT_RESET: StudyView._context_reset,
    ev.LLM_CALL: StudyView._llm_call,
    ev.NOISE_FLOOR: StudyView._noise_floor,
    CHALLENGE_DECIDED: StudyView._challenge_decided,
    ev.SOURCE_CHOSEN: StudyView._source_chosen,
    ev.STUDY_FINISHED: StudyView._study_finished,
}
