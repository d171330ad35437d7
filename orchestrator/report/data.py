"""What a report needs from one study's journal (docs/journal.md), as plain dataclasses.

The journal is the only input: nothing here talks to Redis or the study loop. Unknown event
types and fields are ignored and a torn last line is skipped, as the journal contract asks
(through :func:`orchestrator.journal.read_events`),
so a report can be drawn from a study that is still running or was killed.

The trials, the incumbent, the noise, the metric, the study's end, Level 2's research
sessions and gate verdicts and the timeline's markers come from the loop's own fold of the
journal (:class:`orchestrator.state.StudyLog`), so the report shows what the loop decided
from; only what the loop does not fold (policy changes and LLM calls one by one) is
collected here.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeGuard

from contract.trials import BASELINE_SOURCE, NON_SEARCH_SOURCES
from orchestrator.errors import UserError
from orchestrator.events import Event, GateVerdict, LlmCall, PolicyChanged, StudyFinished
from orchestrator.journal import journal_path, read_events
from orchestrator.metric import Metric
from orchestrator.state import Marker, ResearchRecord, StudyLog, TrialRecord
from trainer.patch import patch_sha256


@dataclass(frozen=True)
class ReportTrialRow:
    """One finished trial as the report's tables and plots show it."""

    index: int
    status: str
    value: float | None  # the study's metric, in its own units
    kept: bool
    best_value: float | None  # the incumbent's value after this trial
    source: str
    fired: tuple[str, ...]
    config: dict[str, Any]
    changes: dict[str, Any]
    hypothesis: str
    preset: str
    train_seconds: float
    error: str
    finished_at: datetime | None
    patch: str | None = None  # a code trial's recipe diff, as the spec that ran carried it

    @property
    def patch_sha256(self) -> str | None:
        return patch_sha256(self.patch) if self.patch is not None else None

    @property
    def val_bpb(self) -> float | None:  # its name from when every study was GPT
        return self.value

    @property
    def best_val_bpb(self) -> float | None:
        return self.best_value


@dataclass(frozen=True)
class LlmCallRow:
    """One LLM call as the report's cost and latency plot shows it."""

    at: datetime | None
    role: str
    model: str
    tokens: int
    cost_usd: float
    latency_s: float
    ok: bool


@dataclass(frozen=True)
class SessionRow:
    """One Level-2 research session as the report tables show it (not the session itself:
    that is :class:`orchestrator.level2.research.session.ResearchSession`)."""

    session: int
    trigger: str
    iteration: int
    outcome: str  # "" while still running
    mechanism: str
    reason: str


@dataclass
class RunData:
    """Everything a study report shows, extracted from one journal."""

    run_dir: Path
    study: str = ""
    agent: str = ""
    hardware: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    started_at: datetime | None = None
    trials: list[ReportTrialRow] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    research: list[SessionRow] = field(default_factory=list)
    policy_changes: list[PolicyChanged] = field(default_factory=list)
    gate_verdicts: list[GateVerdict] = field(default_factory=list)
    llm_calls: list[LlmCallRow] = field(default_factory=list)
    noise_values: list[float] = field(default_factory=list)
    noise_floor: float | None = None
    noise_method: str = ""
    summary: StudyFinished | None = None  # the study's end, when it has one
    metric: Metric = field(default_factory=Metric)  # name and direction (GPT's val_bpb)
    log: StudyLog = field(default_factory=StudyLog)  # the fold the rest is projected from

    @property
    def finished(self) -> bool:
        return self.summary is not None

    @property
    def preset(self) -> str | None:
        for trial in self.trials:
            if trial.preset:
                return trial.preset
        return _preset_of(self.config)

    @property
    def baseline_value(self) -> float | None:
        if self.summary is not None:
            for value in (self.summary.baseline_value, self.summary.baseline_val_bpb):
                if _finite(value):
                    return float(value)
        for trial in self.trials:
            if trial.source == BASELINE_SOURCE and trial.value is not None:
                return trial.value
        return None

    @property
    def best_value(self) -> float | None:
        best = (self.summary.best if self.summary else None) or {}
        for key in ("value", "val_bpb"):
            if _finite(best.get(key)):
                return float(best[key])
        if _finite(self.log.best_value):  # the incumbent as the loop last journaled it
            return float(self.log.best_value)
        curve = [b for _, b in self.best_so_far() if b is not None]
        return curve[-1] if curve else None

    baseline_val_bpb = baseline_value  # their names from when every study was GPT
    best_val_bpb = best_value

    @property
    def delta(self) -> float | None:
        """Δ = best − baseline in the metric's units, the ablation's quantity: negative is an
        improvement when minimising, positive when maximising (see :attr:`improvement`).
        From the fresh-seed re-runs when the study made them (no selection bias), else the
        selection figure (the best draw of the search)."""
        rerun = self.rerun_delta
        return rerun if rerun is not None else self.selection_delta

    @property
    def selection_delta(self) -> float | None:
        if self.baseline_value is None or self.best_value is None:
            return None
        return self.best_value - self.baseline_value

    @property
    def rerun_delta(self) -> float | None:
        """Mean of the best's re-runs − mean of the baseline's on the same fresh seeds."""
        summary = self.summary or StudyFinished()
        best = [float(v) for v in summary.final_reruns if _finite(v)]
        base = [float(v) for v in summary.baseline_reruns if _finite(v)]
        if not best or not base:
            return None
        return sum(best) / len(best) - sum(base) / len(base)

    @property
    def improvement(self) -> float | None:
        """How much the best beat the baseline: positive is better in either direction."""
        return self.metric.improvement(self.baseline_value, self.best_value)

    def search_trials(self) -> list[ReportTrialRow]:
        return [t for t in self.trials if t.source not in NON_SEARCH_SOURCES]

    def best_so_far(self) -> list[tuple[int, float | None]]:
        """(index, best value after that trial) from the journal's own acceptance rule.

        Uses the ``best_value`` (``best_val_bpb``) each trial_finished recorded (so
        noise-aware acceptance is honoured); falls back to the running best of ok trials.
        """
        curve: list[tuple[int, float | None]] = []
        running: float | None = None
        for trial in self.search_trials():
            if trial.best_value is not None:
                running = trial.best_value
            elif self.metric.better(trial.value, running):
                running = trial.value
            curve.append((trial.index, running))
        return curve

    def firing_counts(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for marker in self.markers:
            if marker.kind == "promoted":
                counts[marker.label] += 0  # a promoted mechanism that never fired shows as 0
        for trial in self.trials:
            counts.update(trial.fired)
        return counts

    def status_counts(self) -> Counter[str]:
        return Counter(t.status for t in self.trials)

    @property
    def llm_cost_usd(self) -> float:
        return self.log.llm_cost_usd


def _finite(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _preset_of(config: dict[str, Any]) -> str | None:
    objective = config.get("objective")
    if isinstance(objective, dict) and isinstance(objective.get("preset"), str):
        return objective["preset"]
    return config.get("preset") if isinstance(config.get("preset"), str) else None


def _time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def read_journal(path: Path) -> list[Event]:
    """Events of a journal (the study loop's reader: a torn last line is skipped)."""
    try:
        return read_events(path)
    except ValueError as exc:  # a corrupt line mid-file: not a torn write, a damaged file
        raise UserError(f"{path} is damaged ({exc}); restore it or report on a copy") from None


def load_run(run_dir: Path) -> RunData:
    """Read a run folder's journal into a :class:`RunData`."""
    run_dir = Path(run_dir)
    return extract(read_journal(journal_path(run_dir, must_exist=True)), run_dir)


def extract(events: list[Event], run_dir: Path) -> RunData:
    """The report's view of ``events``: projections of the loop's fold of them."""
    log = StudyLog()
    data = RunData(run_dir=run_dir, log=log)
    for event in events:
        if not log.apply_lenient(event):
            continue
        if isinstance(event, PolicyChanged):
            data.policy_changes.append(event)
        elif isinstance(event, LlmCall):
            data.llm_calls.append(_llm_call(event))
    data.study, data.agent, data.hardware = log.study, log.agent, log.hardware
    data.config = log.study_config
    data.started_at = _time(log.started_at) if log.started_at else None
    data.metric = log.named_metric or data.metric
    data.summary = log.summary
    data.noise_values = [v for v in (_number(x) for x in log.noise_values) if v is not None]
    data.noise_floor = _number(log.noise_floor)
    data.noise_method = log.noise_method
    data.trials = [_trial_row(record) for record in log.finished_trials()]
    data.markers = list(log.markers)
    # A session the journal says started or ended (not one known only by a stray round
    # or verdict); sessions run one at a time, so by number is the journal's order.
    sessions = [log.research[n] for n in sorted(log.research)]
    data.research = [_session_row(s) for s in sessions if s.started or s.ended]
    data.gate_verdicts = [v for s in sessions for v in s.verdicts]
    return data


def _session_row(record: ResearchRecord) -> SessionRow:
    return SessionRow(
        session=record.session,
        trigger=record.trigger,
        iteration=record.iteration or 0,
        outcome=record.outcome,
        mechanism=record.mechanism,
        reason=record.reason,
    )


def _number(value: Any) -> float | None:
    return float(value) if _finite(value) else None


def _trial_row(record: TrialRecord) -> ReportTrialRow:
    result = record.result
    return ReportTrialRow(
        index=record.index,
        status=record.status,
        value=_number(record.value),
        kept=record.kept,
        best_value=_number(record.best_value),
        source=record.source,
        fired=tuple(record.fired),
        config=dict((result.spec.config if result else None) or record.config),
        changes=dict(record.changes),
        hypothesis=record.hypothesis,
        preset=result.spec.preset if result else "",
        train_seconds=result.train_seconds if result else 0.0,
        error=record.error,
        finished_at=_time(record.finished_at) if record.finished_at else None,
        patch=result.spec.patch if result else None,
    )


def _llm_call(event: LlmCall) -> LlmCallRow:
    def number(value: float | None) -> float:
        return float(value) if _finite(value) else 0.0

    return LlmCallRow(
        at=_time(event.ts),
        role=event.role,
        model=event.model,
        tokens=event.prompt_tokens + event.completion_tokens,
        cost_usd=number(event.cost_usd),
        latency_s=number(event.latency_s),
        ok=event.ok,
    )
