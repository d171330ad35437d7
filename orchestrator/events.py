"""The journal's event types: one pydantic model per event, the one definition of each name.

Every event written to ``runs/<study>/events.jsonl`` is one of these models, and every
reader gets them back from :func:`orchestrator.journal.read_events` (see docs/journal.md,
whose per-event tables are generated from this module: ``python -m orchestrator.events
--write``). Compatibility rules, in both directions:

- every field has a default, so a journal written before a field existed still loads
  (``study_started.version`` says which format wrote it: absent means 1);
- unknown fields are kept (``extra="allow"``), so a journal of a newer version loads too;
- an unknown event type becomes an :class:`UnknownEvent`, which readers ignore;
- a model is written with the fields its writer set (``exclude_unset``), so what lands in
  the file is what the writer said, field for field, as before the models existed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationError,
    model_validator,
)
from pydantic.fields import FieldInfo

from contract.trials import DIRECTIONS, Direction
from trainer.spec import TrialResult

# The journal format written by this code. 1: the untyped journal (no version field);
# 2: the typed events of this module, field for field a superset of 1.
JOURNAL_VERSION = 2

STUDY_STARTED = "study_started"
LLM_CALL = "llm_call"
NOISE_FLOOR = "noise_floor"
TRIAL_PROPOSED = "trial_proposed"
TRIAL_FINISHED = "trial_finished"
POLICY_CHANGED = "policy_changed"
RESEARCH_STARTED = "research_started"
RESEARCH_ROUND = "research_round"
GATE_VERDICT = "gate_verdict"
MECHANISM_PROMOTED = "mechanism_promoted"
MECHANISM_REVERTED = "mechanism_reverted"
RESEARCH_FINISHED = "research_finished"
STUDY_FINISHED = "study_finished"
CONTEXT_RESET = "context_reset"
SOURCE_CHOSEN = "source_chosen"
CHALLENGE_DECIDED = "challenge_decided"
RESEARCH_SKIPPED = "research_skipped"
PHASE_CHANGED = "phase_changed"


class Event(BaseModel):
    """The envelope every event has: ``seq`` (from 0, +1 per event in a file), ``ts`` (UTC,
    ISO 8601) and ``type``; the journal sets ``seq`` and ``ts`` when it writes the event."""

    model_config = ConfigDict(extra="allow")

    seq: int = -1
    ts: str = ""
    type: str = ""

    # Where the event came from, for the generated docs ("" = the original format).
    added_by: ClassVar[str] = ""

    def record(self) -> dict[str, object]:
        """The event's JSON object, as written to (or read from) the journal."""
        fields = self.model_dump(exclude_unset=True, exclude={"seq", "ts", "type"})
        return {"seq": self.seq, "ts": self.ts, "type": self.type, **fields}

    def was_set(self, name: str) -> bool:
        """Whether the writer wrote ``name`` (a default fills in for a field it did not)."""
        return name in self.model_fields_set

    # Read-only mapping access to :meth:`record`, for tests and ad-hoc scripts that look at
    # the journal's JSON form; code reads the typed attributes.
    def __getitem__(self, key: str) -> object:
        return self.record()[key]

    def get(self, key: str, default: object = None) -> object:
        return self.record().get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self.record()


class UnknownEvent(Event):
    """An event type this version does not know (a newer journal's): kept, ignored."""


class StudyStarted(Event):
    """A study started or resumed (each resume writes another)."""

    type: Literal["study_started"] = "study_started"
    version: int = Field(
        default=1, description="journal format (`JOURNAL_VERSION`); absent means 1"
    )
    study: str = Field(default="", description="the study's name")
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="the study file as a dict, overrides applied; `config.rq.redis_url` has "
        "any password replaced by `***`; `config.objective` holds `kind` (`gpt`, `function`, "
        "`command`, `benchmark`) and that kind's keys, `config.space` the search space "
        "(non-GPT) or the overrides (GPT)",
    )
    versions: dict[str, str] = Field(default_factory=dict, description="package → version")
    hardware: str = Field(default="", description="machine, processor and CPU count")
    agent: str = Field(default="", description="`builtin` or `openai:<model>`")
    metric: str = Field(
        default="val_bpb",
        description="the metric's name (absent in journals from when every study was GPT: `val_bpb`)",
    )
    direction: Direction = Field(
        default="minimize",
        description="`minimize` or `maximize` (absent in older journals: `minimize`)",
    )
    resumed: bool = Field(default=False, description="a `--resume` of an existing journal")
    run_id: str = Field(
        default="",
        description="hex, the same across resumes; part of every `trial_id` "
        "(`<study>-<run_id>-<index>`), so a resumed study adopts its own rq jobs",
    )

    @model_validator(mode="before")
    @classmethod
    def _metric_object(cls, data: object) -> object:
        """Some writers give ``metric`` as a ``{name, direction}`` object: read it as the
        two fields (an explicit ``direction`` field wins)."""
        if not isinstance(data, dict) or not isinstance(data.get("metric"), dict):
            return data
        metric, data = data["metric"], {k: v for k, v in data.items() if k != "metric"}
        if isinstance(metric.get("name"), str) and metric["name"]:
            data["metric"] = metric["name"]
        if "direction" not in data and metric.get("direction") in DIRECTIONS:
            data["direction"] = metric["direction"]
        return data


class LlmCall(Event):
    """One LLM request (each retry and repair is its own event)."""

    type: Literal["llm_call"] = "llm_call"
    role: str = Field(
        default="",
        description="`level1`, `level15`, `explore`, `critique`, `specify`, `generate` or "
        "`repair` (a JSON repair, or a research session's repair after a failed ladder)",
    )
    provider: str = Field(default="", description="the client, e.g. `openai`")
    model: str = Field(default="", description="the model asked")
    prompt_hash: str = Field(default="", description="sha256 hex of the prompt")
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = Field(
        default=None,
        description="`null` when the model has no price (not in `orchestrator/prices.py`, "
        "none set with `llm.price_*_per_mtok`): the summary says `cost unknown` and "
        "`llm.token_cap` stops further calls instead of the dollar cap",
    )
    latency_s: float = 0.0
    ok: bool = Field(default=True, description="false for a failed attempt")
    error: str = Field(
        default="", description="a failed attempt's error (`HTTP 429`, `empty reply`, ...)"
    )
    attempt: int = Field(default=0, description="the retry's number, from 0")
    mode: str = Field(
        default="",
        description="`json_schema`, `json_object` or `text`: the rung of the fallback ladder "
        "the request used",
    )
    transcript: str = Field(
        default="", description="the request and reply, relative to the run dir"
    )


class NoiseFloor(Event):
    """The noise estimate, written whenever it changes (paired acceptance: pooled over every
    repeated evaluation; `baseline-floor`: once, from the baseline's repeats)."""

    type: Literal["noise_floor"] = "noise_floor"
    values: list[float] = Field(
        default_factory=list, description="the metric's values of the baseline's evaluations"
    )
    floor: float | None = Field(
        default=None, description="the margin one paired draw must beat to be clearly better"
    )
    method: str = Field(default="", description="how `floor` was computed")
    sd: float | None = Field(
        default=None, description="paired: the sd of a paired difference (same seed)"
    )
    dof: int | None = Field(default=None, description="paired: degrees of freedom behind `sd`")
    deterministic: bool | None = Field(
        default=None, description="paired: repeats identical or declared so (no races)"
    )


class TrialProposed(Event):
    """A trial planned and dispatched."""

    type: Literal["trial_proposed"] = "trial_proposed"
    index: int = Field(default=0, description="the trial's index, from 0")
    changes: dict[str, Any] = Field(default_factory=dict, description="the changed params")
    config: dict[str, Any] = Field(default_factory=dict, description="the full config")
    hypothesis: str = Field(
        default="",
        description="why; starts with `[fallback: ...]` when the built-in agent stood in",
    )
    source: str = Field(
        default="llm",
        description="`baseline`, `llm`, `builtin`, `mechanism:<name>` (search trials); "
        "`noise`, `reseed`, `reseed-baseline`, `test-best`, `test-baseline` (noise-aware "
        "acceptance's re-runs and held-out scorings)",
    )
    fired: list[str] = Field(
        default_factory=list,
        description="mechanisms whose output changed what ran (their candidate ran, their "
        "screen removed the one that would have, or their guidance was in the prompt of the "
        "proposal that ran); reports count these",
    )
    offered: list[str] = Field(
        default_factory=list,
        description="every mechanism that gave output while the trial was planned, whether or not it ran",
    )
    seed: int | None = Field(
        default=None, description="the training seed (absent: the study's seed)"
    )
    rejected: list[Any] = Field(
        default_factory=list,
        description="why earlier proposals for this index were sent back (invalid values, "
        "mechanism screens)",
    )
    eval_split: str = Field(
        default="val",
        description="`test` for the final held-out scorings, never kept or compared with "
        "search trials (absent: `val`)",
    )
    patch_sha256: str | None = Field(
        default=None,
        description="a code trial: the sha256 of its recipe diff, stored as "
        "`patches/<sha256>.diff` in the run folder and named in `config` as `recipe_patch` "
        "(absent: the recipe as is)",
    )


class TrialFinished(Event):
    """A trial's result. ``result`` is the trainer's ``TrialResult``, spec included:
    ``status``, ``metric``, ``value`` (null unless ok), ``val_bpb`` (GPT), ``extras``,
    ``data_fingerprint``, ``software``, ``error``, ``spec`` and the timings.

    A result this version cannot read as a ``TrialResult`` (a status or field a newer
    version adds, a hand-written journal without a spec) leaves ``result`` null; it is
    kept as written, written back unchanged by :meth:`record`, and still read by
    :attr:`status`, :attr:`value` and :attr:`error`."""

    type: Literal["trial_finished"] = "trial_finished"
    index: int = Field(default=0, description="the trial's index")
    result: TrialResult | None = Field(
        default=None,
        description="the trainer's `TrialResult`; `status` is a string (`ok`, `crashed`, ... "
        "and any status a newer version adds), `value` is absent in journals from when every "
        "study was GPT (use `val_bpb`)",
    )
    kept: bool = Field(default=False, description="it became the incumbent")
    best_value: float | None = Field(
        default=None, description="the incumbent's value after this trial, in the metric's units"
    )
    best_val_bpb: float | None = Field(
        default=None,
        description="GPT: the same number as `best_value` (its only name when every study was GPT)",
    )
    source: str = Field(default="llm", description="as in `trial_proposed`")
    fired: list[str] | None = Field(default=None, description="as in `trial_proposed`")
    attempts: int = Field(
        default=1, description="times the trial was dispatched (2 after a dead worker)"
    )
    refused: dict[str, Any] | None = Field(
        default=None,
        description="a result recorded as `invalid` because its `data_fingerprint` differs "
        "from the baseline's: `{status, value, data_fingerprint}` of the refused number, "
        "kept for audit only",
    )
    acceptance: dict[str, Any] | None = Field(
        default=None,
        description="paired rule, a search trial's keep decision: `{verdict, pairs, gain, "
        "margin, noise_sd, dof, reason, incumbent}`; verdict `race` opens a race "
        "(`challenge_decided` closes it)",
    )
    best_estimate: dict[str, Any] | None = Field(
        default=None,
        description="the incumbent after this trial: `{index, mean, n, low, high}`, the mean "
        "of its evaluations with a 95% interval (null bounds: too few to say)",
    )
    pruned: dict[str, Any] | None = Field(
        default=None,
        description="a trial stopped early as doomed (`orchestrator/pruning.py`): `saved_s` "
        "(training seconds it did not run) and the pruner's figures",
    )

    # The result as written when it does not read as this version's TrialResult.
    _unread_result: dict[str, object] | None = PrivateAttr(default=None)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_a_result_it_cannot_read(
        cls, data: object, handler: ModelWrapValidatorHandler[TrialFinished]
    ) -> TrialFinished:
        if not isinstance(data, dict):
            return handler(data)
        raw = data.get("result")
        if not isinstance(raw, dict):
            return handler(data)
        try:
            TrialResult.model_validate(raw)
        except ValidationError:
            event = handler({k: v for k, v in data.items() if k != "result"})
            event._unread_result = dict(raw)
            return event
        return handler(data)

    def record(self) -> dict[str, object]:
        record = super().record()
        if self._unread_result is not None:
            record["result"] = self._unread_result
        return record

    def _raw(self) -> dict[str, object]:
        return self._unread_result or {}

    @property
    def status(self) -> str:
        if self.result is not None:
            return self.result.status
        return str(self._raw().get("status", ""))

    @property
    def value(self) -> float | None:
        """The metric's value (``val_bpb`` in journals written when every study was GPT)."""
        if self.result is not None:
            return self.result.value
        value = self._raw().get("value")
        value = self._raw().get("val_bpb") if value is None else value
        return float(value) if isinstance(value, int | float) else None

    @property
    def val_bpb(self) -> float | None:
        """GPT's metric (the same number as :attr:`value`); None for other objectives."""
        if self.result is not None:
            return self.result.val_bpb
        value = self._raw().get("val_bpb")
        return float(value) if isinstance(value, int | float) else None

    @property
    def spec_config(self) -> dict[str, object]:
        """The config the trial ran with, as its result's spec names it ({} when none)."""
        if self.result is not None:
            return dict(self.result.spec.config)
        spec = self._raw().get("spec")
        config = spec.get("config") if isinstance(spec, dict) else None
        return dict(config) if isinstance(config, dict) else {}

    @property
    def error(self) -> str:
        """Why the trial failed (empty when it did not)."""
        if self.result is not None:
            return self.result.error
        return str(self._raw().get("error") or "")

    @property
    def best(self) -> float | None:
        """The incumbent's value after this trial, in either journal version."""
        return self.best_value if self.was_set("best_value") else self.best_val_bpb


class PolicyChanged(Event):
    """A Level-1.5 step, journaled every time (an empty ``diff`` when nothing changed)."""

    type: Literal["policy_changed"] = "policy_changed"
    iteration: int = Field(default=0, description="the next trial's index")
    after_trials: int | None = Field(
        default=None, description="finished search trials when it ran; the cadence counts from it"
    )
    diagnosis: str = ""
    diff: dict[str, Any] = Field(
        default_factory=dict, description="param → [old, new] and field → [old, new]"
    )
    policy: dict[str, Any] = Field(
        default_factory=dict, description="the new `SearchPolicy` as a dict"
    )
    notes: list[str] = Field(
        default_factory=list, description="limits that trimmed the proposed policy"
    )


class ResearchStarted(Event):
    """A Level-2 research session started."""

    type: Literal["research_started"] = "research_started"
    session: int = Field(default=0, description="the session's number, from 1")
    trigger: str = Field(default="", description="`cadence` or `stagnation`")
    iteration: int = Field(default=0, description="the next trial's index")


class ResearchRound(Event):
    """One round of a research session."""

    type: Literal["research_round"] = "research_round"
    session: int = 0
    round: str = Field(default="", description="`explore`, `critique`, `specify` or `generate`")
    summary: str = Field(default="", description="short text, cleaned")
    payload: dict[str, Any] = Field(default_factory=dict, description="the round's output")


class GateVerdict(Event):
    """The gate ladder's verdict on one attempt of a session's module."""

    type: Literal["gate_verdict"] = "gate_verdict"
    session: int = 0
    mechanism: str = Field(default="", description="the module's name")
    attempt: int = Field(default=0, description="0, then ≥ 1 for each repair")
    accepted: bool = False
    stage: str = Field(default="", description="`static`, `smoke` or `contract`: where it stopped")
    reason: str = Field(default="", description="cleaned of control and bidi characters")
    sha: str = Field(default="", description="the first 16 hex digits of the source's sha256")
    path: str = Field(
        default="",
        description="the attempt's source, under `research/session-<n>/<name>-<attempt>-<sha>.py`",
    )
    missing_packages: list[str] = Field(
        default_factory=list,
        description="imports the sandbox does not ship (non-empty: no repair is attempted)",
    )
    seconds: float | None = Field(default=None, description="the ladder's wall time")


class MechanismPromoted(Event):
    """A mechanism went live."""

    type: Literal["mechanism_promoted"] = "mechanism_promoted"
    session: int | None = None
    name: str = ""
    sha: str = Field(default="", description="as in `gate_verdict`")
    path: str = Field(default="", description="the stored module, relative to the run dir")
    active_from: int = Field(default=0, description="the first trial index it shapes")
    supersedes: list[str] = Field(default_factory=list, description="mechanisms it replaces")
    hooks: list[str] | None = Field(
        default=None,
        description="the hooks the module overrides: only those stages call it; restored "
        "with it on `--resume` (absent: all hooks)",
    )


class MechanismReverted(Event):
    """A live mechanism was taken out."""

    type: Literal["mechanism_reverted"] = "mechanism_reverted"
    name: str = ""
    sha: str = ""
    iteration: int = 0
    reason: str = Field(
        default="",
        description="starts with `circuit breaker:` (N failed calls, the last error "
        "follows), `circuit breaker (effect):`, `superseded by <name>`, `replaced by a new "
        "version` or `cannot restore on resume:`; cleaned of control and bidi characters",
    )
    failures: int = 0
    breaker: str | None = Field(
        default=None,
        description="only on a circuit-breaker revert: `errors`, or an effect "
        "(`orchestrator/level2/mechanisms/breaker.py`): `chosen_harmful`, `vetoes_all`, `slow_calls`",
    )


class ResearchFinished(Event):
    """A research session ended."""

    type: Literal["research_finished"] = "research_finished"
    session: int = 0
    outcome: str = Field(
        default="",
        description="`promoted`, `rejected`, `discarded` (also: already live, reverted "
        "earlier, the study ended while it ran, or group N's null Level 2) or `failed`",
    )
    mechanism: str = ""
    reason: str = ""
    missing_packages: list[str] = Field(default_factory=list, description="as in `gate_verdict`")


class StudyFinished(Event):
    """The study ended (a resume with more iterations starts it again)."""

    type: Literal["study_finished"] = "study_finished"
    best: dict[str, Any] | None = Field(
        default=None, description="`{index, value, config}` (GPT also `val_bpb`), or null"
    )
    metric: str = Field(default="val_bpb", description="the metric's name (absent: `val_bpb`)")
    direction: str = Field(
        default="minimize", description="`minimize` or `maximize` (absent: `minimize`)"
    )
    baseline_value: float | None = None
    baseline_val_bpb: float | None = Field(
        default=None, description="GPT: the same as `baseline_value`"
    )
    improvement: float | None = Field(
        default=None, description="positive when the best beat the baseline, in either direction"
    )
    trials_by_status: dict[str, int] = Field(default_factory=dict)
    llm_cost_usd: float = 0.0
    final_reruns: list[float] = Field(
        default_factory=list, description="the best config's values on fresh seeds"
    )
    baseline_reruns: list[float] = Field(
        default_factory=list, description="the baseline's values on the same fresh seeds"
    )
    rerun_improvement: float | None = Field(
        default=None, description="mean baseline re-run vs mean best re-run, positive is better"
    )
    test_best: float | None = Field(default=None, description="the best scored on the test split")
    test_baseline: float | None = None
    test_improvement: float | None = Field(default=None, description="positive is better")


class ContextReset(Event):
    """Level 1's context was reset (`levels.restart`, ablation group R), where Level 2 would
    have run."""

    type: Literal["context_reset"] = "context_reset"
    added_by: ClassVar[str] = "the study loop"
    from_index: int = Field(default=0, description="Level 1 sees trials from this index on")
    trigger: str = Field(default="", description="`cadence` or `stagnation`")
    after_trials: int | None = None


class SourceChosen(Event):
    """Arbitration: which source's candidate the next search trial runs, and why (written
    just before its `trial_proposed`)."""

    type: Literal["source_chosen"] = "source_chosen"
    added_by: ClassVar[str] = "arbitration between Level 1 and mechanisms"
    index: int = 0
    chosen: str = Field(default="", description="`level1` or `mechanism:<name>`")
    trial_source: str = Field(
        default="", description="the trial's `source`: `llm`, `builtin` or `mechanism:<name>`"
    )
    rule: str = Field(
        default="",
        description="`only` (one source had a surviving candidate), `level1-share` (Level "
        "1's one trial in four), `explore-new` (a mechanism's first trials), `credit` (the "
        "highest discounted-UCB score) or `no-survivor` (the built-in agent's proposal ran)",
    )
    offered: list[str] = Field(
        default_factory=list, description="sources with a surviving candidate"
    )
    credits: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="source → `{trials, improvements, weight, credit, bonus}` before this "
        "choice (`bonus` null: no evidence yet)",
    )
    preempted: list[dict[str, Any]] = Field(
        default_factory=list,
        description="`[{source, changes, rationale}]`: each other offered source's best "
        "candidate, which did not run",
    )


class ChallengeDecided(Event):
    """A race ended (paired acceptance): the challenger, re-evaluated on fresh seeds paired
    with the incumbent, was kept (it became the incumbent) or dropped."""

    type: Literal["challenge_decided"] = "challenge_decided"
    added_by: ClassVar[str] = "paired acceptance"
    challenger: int = Field(default=0, description="the raced search trial's index")
    incumbent: int = Field(default=0, description="the incumbent's trial index")
    verdict: str = Field(default="", description="`accept` or `reject`")
    pairs: int = Field(default=0, description="paired draws the decision rests on")
    gain: float | None = Field(
        default=None, description="mean paired gain, positive when the challenger is better"
    )
    margin: float | None = Field(default=None, description="what `gain` had to beat")
    noise_sd: float | None = Field(default=None, description="the paired noise's sd")
    dof: int = 0
    reason: str = ""
    best_estimate: dict[str, Any] | None = Field(
        default=None, description="as in `trial_finished`, after the decision"
    )


class ResearchSkipped(Event):
    """A research session was due but not started: it could not finish in time to shape at
    least 2 more search trials. No further session starts in that study."""

    type: Literal["research_skipped"] = "research_skipped"
    added_by: ClassVar[str] = "Level 2's scheduling of research sessions"
    trigger: str = ""
    iteration: int = 0
    reason: str = ""


class PhaseChanged(Event):
    """The study moved to another phase (`orchestrator/phases.py`), written before the
    first trial it plans there. A journal without these events is read as being in the
    phase of its last proposed trial."""

    type: Literal["phase_changed"] = "phase_changed"
    added_by: ClassVar[str] = "the study's phases"
    phase: str = Field(
        default="",
        description="`baseline`, `noise`, `search`, `reruns`, `test` or `done`",
    )
    previous: str = Field(default="", description="the phase before (empty: none journaled)")
    iteration: int = Field(default=0, description="the next trial's index")
    budget_used: int = Field(default=0, description="trials counted against `iterations` so far")


EVENT_MODELS: tuple[type[Event], ...] = (
    StudyStarted,
    LlmCall,
    NoiseFloor,
    TrialProposed,
    TrialFinished,
    PolicyChanged,
    ResearchStarted,
    ResearchRound,
    GateVerdict,
    MechanismPromoted,
    MechanismReverted,
    ResearchFinished,
    StudyFinished,
    ContextReset,
    SourceChosen,
    ResearchSkipped,
    ChallengeDecided,
    PhaseChanged,
)


def type_name(model: type[Event]) -> str:
    """The ``type`` string of an event model."""
    default = model.model_fields["type"].default
    assert isinstance(default, str) and default, model
    return default


BY_TYPE: dict[str, type[Event]] = {type_name(m): m for m in EVENT_MODELS}


def parse_event(record: Mapping[str, object]) -> Event:
    """One journal object as its model (an :class:`UnknownEvent` for a type not known)."""
    model = BY_TYPE.get(str(record.get("type", "")), UnknownEvent)
    return model.model_validate(record)


# ------------------------------------------------------------------ generated docs

BEGIN_MARKER = "<!-- BEGIN EVENTS: generated by `python -m orchestrator.events --write` -->"
END_MARKER = "<!-- END EVENTS -->"
DOC_PATH = Path(__file__).resolve().parents[1] / "docs" / "journal.md"


def _type_text(annotation: object) -> str:
    text = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    text = text or str(annotation).replace("typing.", "")
    return text.replace("NoneType", "null").replace("|", "\\|")


def _default_text(field: FieldInfo) -> str:
    default = field.get_default(call_default_factory=True)  # the factory's value, if any
    return "`" + json.dumps(default, ensure_ascii=False) + "`"


def markdown() -> str:
    """The per-event field tables of docs/journal.md."""
    out = [BEGIN_MARKER, ""]
    for model in EVENT_MODELS:
        name = type_name(model)
        doc = " ".join((model.__doc__ or "").split())
        added = f" (added by {model.added_by})" if model.added_by else ""
        out += [f"### `{name}`{added}", "", doc, "", "| field | type | default | meaning |"]
        out.append("|---|---|---|---|")
        for field_name, field in model.model_fields.items():
            if field_name in Event.model_fields:
                continue
            meaning = (field.description or "").replace("|", "\\|")
            out.append(
                f"| `{field_name}` | `{_type_text(field.annotation)}` | "
                f"{_default_text(field)} | {meaning} |"
            )
        out.append("")
    out.append(END_MARKER)
    return "\n".join(out)


def render_doc(text: str) -> str:
    """``text`` (docs/journal.md) with its generated section replaced by :func:`markdown`."""
    start, end = text.index(BEGIN_MARKER), text.index(END_MARKER) + len(END_MARKER)
    return text[:start] + markdown() + text[end:]


def main(argv: list[str]) -> int:
    if argv == ["--markdown"]:
        print(markdown())
        return 0
    if argv == ["--write"]:
        DOC_PATH.write_text(render_doc(DOC_PATH.read_text(encoding="utf-8")), encoding="utf-8")
        return 0
    print("usage: python -m orchestrator.events --markdown | --write", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
