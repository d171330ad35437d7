"""Study state: trial records and everything the loop decides from, rebuilt from the journal.

The live loop and ``--resume`` share one code path: the loop appends an event to the
journal, then applies that same event here (:meth:`StudyLog.apply`). Whatever the
journal holds, the state is a pure function of it, so a resumed study is the study that
was interrupted.

This is the one fold of the journal. :class:`StudyLog` needs no study config, so the
report (:mod:`orchestrator.report.data`) and the dashboard (:mod:`orchestrator.dashboard.view`)
fold any journal, old, odd or still growing, through the same :meth:`StudyLog.apply` the
loop uses and only project what they show from it (Level 2's research sessions,
mechanisms and timeline included); :class:`StudyState` adds the study's config and the
queries the loop plans from.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contract.hooks import Context, Trial
from contract.seeds import context_seed
from contract.trials import (
    BASELINE_SOURCE,
    DEFAULT_DIRECTION,
    DIRECTIONS,
    NOISE_SOURCES,
    NON_SEARCH_SOURCES,
    REPORT_SOURCES,
    TRIAL_STATUSES,
    Direction,
)
from orchestrator.config import StudyConfig
from orchestrator.events import (
    ChallengeDecided,
    ContextReset,
    Event,
    GateVerdict,
    LlmCall,
    MechanismPromoted,
    MechanismReverted,
    NoiseFloor,
    PhaseChanged,
    PolicyChanged,
    ResearchFinished,
    ResearchRound,
    ResearchSkipped,
    ResearchStarted,
    SourceChosen,
    StudyFinished,
    StudyStarted,
    TrialFinished,
    TrialProposed,
    parse_event,
)
from orchestrator.levels.policy import SearchPolicy
from orchestrator.metric import GPT_METRIC, Metric, ObjectiveText
from orchestrator.patches import with_patch
from orchestrator.phases import phase_of_source
from sandbox.contexts import make_context
from trainer.patch import patch_sha256
from trainer.spec import TrialResult

PENDING = "pending"  # proposed and dispatched, no result yet
# A finished trial whose result names no status (a damaged or foreign journal): it ran and
# gave nothing usable, which is what "crashed" tells every reader.
NO_STATUS = "crashed"


class TrialRecord(BaseModel):
    """One trial as every level sees it: the mechanism API's ``Trial`` (DESIGN §4.2) plus
    ``fired``, ``seed`` and the full result. ``status`` is ``pending`` until it finishes."""

    model_config = ConfigDict(extra="forbid")

    index: int
    config: dict[str, Any]
    changes: dict[str, Any] = Field(default_factory=dict)
    value: float | None = None  # the study's metric in its own units; None unless ok
    val_bpb: float | None = None  # GPT's metric (the same number as value); None otherwise
    status: str = PENDING
    kept: bool = False
    source: str = "llm"
    hypothesis: str = ""
    fired: list[str] = Field(default_factory=list)
    seed: int = 0
    eval_split: str = "val"  # "test": a final scoring on the held-out split, never compared
    result: TrialResult | None = None  # None for a result this version cannot read
    rejected: list[Any] = Field(default_factory=list)  # proposals refused while planning it
    # The incumbent's value once this trial finished, as its trial_finished said (None for
    # the noise and re-run trials, which never move the incumbent).
    best_value: float | None = None
    error: str = ""  # why it failed (empty when it did not), as its trial_finished said
    proposed_at: str = ""  # the journal's timestamps of its proposal and its result
    finished_at: str = ""

    @property
    def finished(self) -> bool:
        return self.status != PENDING

    def api_trial(self, metric: Metric = GPT_METRIC) -> Trial:
        """This trial as the mechanism API's ``Trial``: ``value`` in the metric's own units,
        and as ``val_bpb`` (the API's score) the minimise-normal value (value, or -value when
        maximising), so code written for "lower is better" stays right in both directions."""
        return Trial(
            index=self.index,
            config=self.config,
            changes=self.changes,
            val_bpb=metric.score(self.value),
            status=self.status,
            kept=self.kept,
            source=self.source,
            hypothesis=self.hypothesis,
            value=self.value,
        )

    def as_trial(self, metric: Metric = GPT_METRIC) -> dict[str, Any]:
        """The JSON form of :meth:`api_trial` (``sandbox.api.Trial.to_dict``)."""
        return self.api_trial(metric).to_dict()


@dataclass
class MechanismRecord:
    """One mechanism a research session wrote, as its ladder verdicts, its promotion and
    its revert left it. ``state`` is ``proposed`` until a verdict or a promotion says more:
    ``rejected`` (its last attempt failed the ladder), ``live``, ``reverted`` or
    ``superseded``. Once it has gone live, later verdicts (a new version's, written while
    this one runs or after it was reverted) are kept but leave its state, sha and path to
    the version that went live, until a promotion says otherwise."""

    name: str
    sha: str = ""
    state: str = "proposed"
    session: int | None = None
    path: str = ""  # its source: the last attempt's, then the stored module's once promoted
    hooks: list[str] = field(default_factory=list)  # as promoted (empty: all of them)
    active_from: int | None = None
    reverted_at: int | None = None  # the next trial's index when it was last reverted
    verdicts: list[GateVerdict] = field(default_factory=list)  # every attempt, in order
    missing_packages: list[str] = field(default_factory=list)
    rejection_reason: str = ""  # the last failed attempt's, while not yet promoted
    revert_reason: str = ""

    @property
    def went_live(self) -> bool:
        return self.state in ("live", "reverted", "superseded")

    @property
    def reason(self) -> str:
        """Why it is in its state: the revert's reason once taken out, none while live,
        else the last failed attempt's."""
        if self.state == "live":
            return ""
        return self.revert_reason if self.went_live else self.rejection_reason

    def apply(self, event: GateVerdict | MechanismPromoted | MechanismReverted) -> None:
        if isinstance(event, GateVerdict):
            self.verdicts.append(event)
            if self.went_live:
                return
            self.session = event.session
            self.state = "proposed" if event.accepted else "rejected"
            self.sha = event.sha or self.sha
            self.path = event.path or self.path
            if not event.accepted:
                self.rejection_reason = event.reason
                self.missing_packages = list(event.missing_packages or self.missing_packages)
        elif isinstance(event, MechanismPromoted):
            self.sha, self.state, self.active_from = event.sha, "live", event.active_from
            self.path, self.hooks = event.path, list(event.hooks or [])
            self.session = event.session if event.session is not None else self.session
        else:
            self.state = "reverted"
            self.reverted_at = event.iteration
            self.revert_reason = event.reason


@dataclass
class ResearchRecord:
    """One Level-2 research session as the journal tells it: its start, its rounds, the
    ladder's verdicts on its attempts and its end (the session itself is
    :class:`orchestrator.level2.research.session.ResearchSession`)."""

    session: int
    trigger: str = ""
    iteration: int | None = None  # the next trial's index when it started; None: not read
    rounds: list[ResearchRound] = field(default_factory=list)
    verdicts: list[GateVerdict] = field(default_factory=list)
    ended: bool = False  # its research_finished was read
    outcome: str = ""  # as its research_finished said ("" while it runs)
    mechanism: str = ""
    reason: str = ""
    # The journal's timestamps of its (last) research_started and of the first
    # research_finished after it ("" where none was read): how long the session took.
    started_at: str = ""
    ended_at: str = ""

    @property
    def started(self) -> bool:
        return self.iteration is not None

    @property
    def repairs(self) -> int:
        """Repair attempts the ladder judged (its highest attempt number)."""
        return max((v.attempt for v in self.verdicts), default=0)


@dataclass(frozen=True)
class Marker:
    """Something that happened at a trial index: a research session started, a mechanism
    was promoted or reverted, Level 1's context was reset."""

    iteration: int
    kind: str  # "research" | "promoted" | "reverted" | "restart"
    label: str


def finite(value: Any) -> float | None:
    """``value`` as a finite float, or None (bools are not numbers; JSON has no NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def metric_of(started: StudyStarted) -> Metric | None:
    """The metric a ``study_started`` names, or None where it names none (journals before
    pluggable objectives): its own ``metric``/``direction`` fields first, then the study
    file's ``[objective]`` keys, then top-level ``metric``/``direction`` of the config."""
    config = started.config
    names = (started.metric if started.was_set("metric") else None, *_keys(config, "metric"))
    directions = (
        started.direction if started.was_set("direction") else None,
        *_keys(config, "direction"),
    )
    name = next((n for n in names if isinstance(n, str) and n), None)
    direction: Direction = next((d for d in directions if d in DIRECTIONS), DEFAULT_DIRECTION)
    return Metric(name, direction) if name else None


def _keys(config: dict[str, Any], key: str) -> tuple[Any, Any]:
    """``config.objective.<key>`` and ``config.<key>``, each None where absent."""
    objective = config.get("objective")
    return (objective.get(key) if isinstance(objective, dict) else None, config.get(key))


def parse_lenient(record: dict[str, Any]) -> Event | None:
    """One journal object as its model, or None where a known type's fields do not fit it
    (a damaged or hand-edited line): readers that show what they can skip it."""
    try:
        return parse_event(record)
    except ValidationError:
        return None


@dataclass(kw_only=True)
class StudyLog:
    """What a journal's events add up to, folded one event at a time (:meth:`apply`).

    Needs no config: the report and the dashboard fold any journal with it. Unknown event
    types (a newer version's) are ignored.
    """

    # What the last study_started said about the study (a resume may fill in more).
    study: str = ""
    agent: str = ""
    hardware: str = ""
    study_config: dict[str, Any] = field(default_factory=dict)  # the study file, as journaled
    started_at: str = ""  # the first study_started's timestamp
    named_metric: Metric | None = None  # the metric the journal names; None: it names none
    run_id: str = ""
    trials: dict[int, TrialRecord] = field(default_factory=dict)
    policy: SearchPolicy = field(default_factory=SearchPolicy)
    noise_floor: float | None = None
    noise_values: list[float] = field(default_factory=list)
    noise_method: str = ""
    llm_cost_usd: float = 0.0
    llm_tokens: int = 0
    llm_unpriced: bool = False  # some call had no price (cost_usd null): the cost is unknown
    llm_latencies: list[float] = field(default_factory=list)  # every call's, in journal order
    best_index: int | None = None
    # The incumbent's value as the journal reports it: the last trial_finished's best
    # (paired: the mean of its evaluations), then a decided race's estimate.
    best_value: float | None = None
    best_estimate: dict[str, Any] | None = None  # {index, mean, n, low, high}, when journaled
    context_start: int = 0  # Level 1 sees trials from here on (moved by a context reset)
    reset_at: int = 0  # finished search trials at the last context reset
    policy_at: int = 0  # finished search trials at the last Level-1.5 step
    finished: bool = False
    summary: StudyFinished | None = None  # the study's end, while it stands
    final_reruns: list[float] = field(default_factory=list)
    active_mechanisms: dict[str, str] = field(default_factory=dict)  # name -> sha
    # Every mechanism a research session wrote (ladder verdicts, promotion, revert), and
    # every research session by its number, each in order of first appearance.
    mechanisms: dict[str, MechanismRecord] = field(default_factory=dict)
    research: dict[int, ResearchRecord] = field(default_factory=dict)
    # The last research_skipped (no further session starts in the study), or None.
    research_skipped: ResearchSkipped | None = None
    # The sha of every revert, in journal order: versions that may not be promoted again.
    reverted_shas: list[str] = field(default_factory=list)
    # The mechanism of every research_finished that says "rejected", in journal order: what
    # later sessions are told not to write again.
    rejected_mechanisms: list[str] = field(default_factory=list)
    # Research sessions, promotions, reverts and context resets, at the trial index each
    # happened, in journal order: what the report's and the dashboard's timelines mark.
    markers: list[Marker] = field(default_factory=list)
    choices: list[SourceChosen] = field(default_factory=list)  # arbitration's choices
    pruned_saved_s: float = 0.0  # training seconds pruned trials did not run (estimated)
    starts: int = 0
    # Paired acceptance: the open race as (challenger index, incumbent index), or None.
    race: tuple[int, int] | None = None
    # The first trial index not used to select the incumbent: its evaluations from here on
    # (later races, the final re-runs) carry none of the luck that made it the incumbent.
    best_since: int = 0
    noise_sd: float | None = None  # the paired noise's sd (noise_floor event), if estimated
    noise_dof: int | None = None
    # Code trials: the text of every recipe diff a trial's config names, by sha256. The
    # journal names them only; the runner loads them from the run folder (orchestrator.patches).
    patches: dict[str, str] = field(default_factory=dict)
    # The study's phase (orchestrator/phases.py): the last phase_changed's, or for a journal
    # written before phases were journaled, the phase of its last proposed trial.
    phase: str | None = None
    phase_journaled: bool = False

    @property
    def default_seed(self) -> int:
        """The training seed of a proposal that names none."""
        return 0

    # ------------------------------------------------------------------ queries
    def best(self) -> TrialRecord | None:
        return self.trials.get(self.best_index) if self.best_index is not None else None

    def baseline(self) -> TrialRecord | None:
        for record in self.ordered():
            if record.source == BASELINE_SOURCE:
                return record
        return None

    def ordered(self) -> list[TrialRecord]:
        return [self.trials[i] for i in sorted(self.trials)]

    def finished_trials(self) -> list[TrialRecord]:
        return [t for t in self.ordered() if t.finished]

    def pending(self) -> list[TrialRecord]:
        return [t for t in self.ordered() if not t.finished]

    def search_trials(self) -> list[TrialRecord]:
        return [t for t in self.ordered() if t.source not in NON_SEARCH_SOURCES]

    def budget_used(self) -> int:
        """Trials that count against ``iterations``: all but the final reporting ones."""
        return sum(1 for t in self.trials.values() if t.source not in REPORT_SOURCES)

    def next_index(self) -> int:
        return max(self.trials, default=-1) + 1

    def trials_since_improvement(self) -> int:
        search = [t for t in self.search_trials() if t.finished]
        last_kept = max((t.index for t in search if t.kept), default=-1)
        return sum(1 for t in search if t.index > last_kept)

    def trials_by_status(self) -> dict[str, int]:
        counts = dict.fromkeys((*TRIAL_STATUSES, PENDING), 0)
        for t in self.trials.values():
            counts[t.status] = counts.get(t.status, 0) + 1
        return {k: v for k, v in counts.items() if v}

    def mechanism(self, name: str) -> MechanismRecord:
        """The record of the mechanism called ``name``, made empty when first named."""
        return self.mechanisms.setdefault(name, MechanismRecord(name=name))

    def research_session(self, number: int) -> ResearchRecord:
        """The record of research session ``number``, made empty when first named."""
        return self.research.setdefault(number, ResearchRecord(session=number))

    def promoted_names(self) -> list[str]:
        """The mechanism of every promotion, in journal order (one promoted twice, twice)."""
        return [m.label for m in self.markers if m.kind == "promoted"]

    def last_research_iteration(self) -> int | None:
        """The next trial's index when the last research session started (None: none did)."""
        return next((m.iteration for m in reversed(self.markers) if m.kind == "research"), None)

    # ------------------------------------------------------------------ events
    def apply_lenient(self, event: Event) -> bool:
        """:meth:`apply`, for readers that show what they can (the report, the dashboard): an
        event with a value the fold cannot use (a hand-edited policy) is skipped; False then.
        The loop itself applies strictly: a journal it cannot fold is not resumed."""
        try:
            self.apply(event)
        except (TypeError, ValueError):
            return False
        return True

    # ------------------------------------------------------------------ events
    def apply(self, event: Event) -> None:
        """Fold one journal event into the state; unknown types are ignored."""
        if isinstance(event, StudyStarted):
            self.starts += 1
            self.finished = False  # a (re)start: finished again only at its study_finished
            self.summary = None
            self.run_id = self.run_id or event.run_id
            self.study = event.study or self.study
            self.agent = event.agent or self.agent
            self.hardware = event.hardware or self.hardware
            self.study_config = event.config or self.study_config
            self.started_at = self.started_at or event.ts
            self.named_metric = metric_of(event) or self.named_metric
        elif isinstance(event, TrialProposed):
            self.trials[event.index] = TrialRecord(
                index=event.index,
                config=event.config,
                changes=event.changes,
                source=event.source,
                hypothesis=event.hypothesis,
                fired=list(event.fired),
                seed=self.default_seed if event.seed is None else event.seed,
                eval_split=event.eval_split,
                rejected=list(event.rejected or []),
                proposed_at=event.ts,
            )
            if not self.phase_journaled:
                self.phase = phase_of_source(event.source).value
        elif isinstance(event, TrialFinished):
            result = event.result
            record = self.trials.get(event.index)
            if record is None:  # proposal lost to a torn write: rebuild from the result
                config = event.spec_config
                patch = result.spec.patch if result else None
                if isinstance(patch, str):  # a code trial: its recipe is its identity
                    sha = patch_sha256(patch)
                    self.patches[sha] = patch
                    config = with_patch(config, sha)
                record = TrialRecord(
                    index=event.index,
                    config=config,
                    source=event.source,
                    seed=result.spec.seed if result else 0,
                )
                self.trials[record.index] = record
            record.status = event.status or NO_STATUS
            record.val_bpb = event.val_bpb
            record.error = event.error
            record.value = event.value  # val_bpb in journals older than pluggable objectives
            record.result = result
            record.kept = event.kept
            record.fired = list(record.fired if event.fired is None else event.fired)
            record.finished_at = event.ts
            if self.named_metric is None and result is not None and result.metric:
                self.named_metric = Metric(result.metric)  # journals whose start names none
            if record.kept:
                self.best_index = record.index
                self.best_since = record.index + 1
            if record.source not in NOISE_SOURCES:  # noise and re-runs never move the incumbent
                best = finite(event.best)
                if best is None and record.kept:  # journals that recorded no best value
                    best = finite(record.value)
                self.best_value = best if best is not None else self.best_value
                record.best_value = self.best_value
            if event.best_estimate is not None:
                self.best_estimate = event.best_estimate
            acceptance = event.acceptance or {}
            if acceptance.get("verdict") == "race" and self.race is None:
                self.race = (record.index, int(acceptance.get("incumbent", -1)))
            if event.pruned is not None:
                self.pruned_saved_s += float(event.pruned.get("saved_s") or 0.0)
        elif isinstance(event, NoiseFloor):
            self.noise_values = list(event.values)
            self.noise_floor = event.floor
            self.noise_method = event.method
            self.noise_sd, self.noise_dof = event.sd, event.dof
        elif isinstance(event, ChallengeDecided):
            self.race = None
            challenger = self.trials.get(event.challenger)
            if event.verdict == "accept" and challenger is not None:
                challenger.kept = True  # kept after its race: the incumbent from here on
                self.best_index = challenger.index
                self.best_since = self.next_index()
            if event.best_estimate is not None:
                self.best_estimate = event.best_estimate
                mean = finite(event.best_estimate.get("mean"))
                self.best_value = mean if mean is not None else self.best_value
        elif isinstance(event, PolicyChanged):
            self.policy = SearchPolicy.model_validate(event.policy)
            if event.after_trials is not None:
                self.policy_at = event.after_trials
        elif isinstance(event, LlmCall):
            self.llm_cost_usd += event.cost_usd or 0.0
            self.llm_tokens += event.prompt_tokens + event.completion_tokens
            self.llm_unpriced |= event.was_set("cost_usd") and event.cost_usd is None
            self.llm_latencies.append(event.latency_s)
        elif isinstance(event, ContextReset):
            self.context_start = event.from_index
            if event.after_trials is not None:
                self.reset_at = event.after_trials
            self.markers.append(Marker(event.from_index, "restart", event.trigger))
        elif isinstance(event, ResearchStarted | ResearchRound | GateVerdict | ResearchFinished):
            self._research(event)
        elif isinstance(event, MechanismPromoted):
            self.active_mechanisms[event.name] = event.sha
            self.mechanism(event.name).apply(event)
            for name in event.supersedes:
                self.active_mechanisms.pop(name, None)
                if name in self.mechanisms:  # the loop reverted it just before: say why
                    self.mechanisms[name].state = "superseded"
            self.markers.append(Marker(event.active_from, "promoted", event.name))
        elif isinstance(event, MechanismReverted):
            self.active_mechanisms.pop(event.name, None)
            self.reverted_shas.append(event.sha)
            self.mechanism(event.name).apply(event)
            self.markers.append(Marker(event.iteration, "reverted", event.name))
        elif isinstance(event, ResearchSkipped):
            self.research_skipped = event
        elif isinstance(event, SourceChosen):
            self.choices = [c for c in self.choices if c.index != event.index]
            self.choices.append(event)
        elif isinstance(event, StudyFinished):
            self.finished = True
            self.summary = event
            self.final_reruns = list(event.final_reruns)
            if not self.phase_journaled:
                self.phase = "done"
        elif isinstance(event, PhaseChanged):
            self.phase = event.phase
            self.phase_journaled = True

    def _research(
        self, event: ResearchStarted | ResearchRound | GateVerdict | ResearchFinished
    ) -> None:
        """A research session's event, into its record (and a verdict into its mechanism's)."""
        record = self.research_session(event.session)
        if isinstance(event, ResearchStarted):
            record.trigger, record.iteration = event.trigger, event.iteration
            record.started_at, record.ended_at = event.ts, ""
            self.markers.append(Marker(event.iteration, "research", f"#{event.session}"))
        elif isinstance(event, ResearchRound):
            record.rounds.append(event)
        elif isinstance(event, GateVerdict):
            record.verdicts.append(event)
            self.mechanism(event.mechanism).apply(event)
        else:
            if record.started_at and not record.ended_at:
                record.ended_at = event.ts
            if event.outcome == "rejected":
                self.rejected_mechanisms.append(event.mechanism)
            record.ended = True
            record.outcome, record.mechanism, record.reason = (
                event.outcome,
                event.mechanism,
                event.reason,
            )


@dataclass
class StudyState(StudyLog):
    """The fold of one study's journal, with the study's config: what the loop plans from."""

    config: StudyConfig

    @property
    def default_seed(self) -> int:
        return self.config.seed

    def base_config(self) -> dict[str, Any]:
        """The config changes apply to: the incumbent's, or the defaults."""
        best = self.best()
        return dict(best.config) if best else self.config.search_space().defaults()

    def context_json(self, iteration: int, *, visible_only: bool = True) -> dict[str, Any]:
        """The wire form of :meth:`hook_context`: what crosses into the sandbox for a live
        call or a replay. Built by the sandbox's own context builder, the one the contract
        tests use, so a module cannot tell a live context from a tested one."""
        space = self.policy.effective_space(self.config.search_space())
        metric = self.config.metric()
        history = [
            t.as_trial(metric)
            for t in self.ordered()
            if t.finished and (not visible_only or t.index >= self.context_start)
        ]
        from orchestrator.levels.rules import context_rules  # the levels import the state

        best = self.best()
        # The builder the contract tests use too, so their contexts cannot be told apart.
        return make_context(
            iteration=iteration,
            seed=context_seed(self.config.seed, iteration),
            space=[p.to_dict() for p in space.params],
            history=history,
            best=best.as_trial(metric) if best else None,
            base=self.base_config(),
            metric=metric.name,
            direction=metric.direction,
            # constraints, facts, step scale, noise, trials left: the rules of API 3
            extra=context_rules(self),
        )

    def hook_context(self, iteration: int, *, visible_only: bool = True) -> Context:
        """The mechanism API's ``Context`` for planning trial ``iteration``: what the host
        hands to hooks (it sends the JSON form only across the sandbox boundary)."""
        return Context.from_dict(self.context_json(iteration, visible_only=visible_only))

    def objective_text(self) -> ObjectiveText:
        """What the prompts say of the study's objective that ``Context`` does not carry: a
        non-GPT objective's description (GPT's prompts name it already)."""
        kind = self.config.objective.kind
        return ObjectiveText(
            kind=kind,
            description="" if kind == "gpt" else self.config.objective_info().description,
        )


def rebuild_state(config: StudyConfig, events: Iterable[Event | dict[str, Any]]) -> StudyState:
    """The state a journal's events (models, or their JSON objects) add up to."""
    state = StudyState(config=config)
    for event in events:
        state.apply(event if isinstance(event, Event) else parse_event(event))
    return state
