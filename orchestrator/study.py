"""The study loop: baseline, Level 1 every trial, Level 1.5 every k, Level 2 at boundaries.

:func:`run_study` is the programmatic entry point (the CLI and the ablation both call it).
Every decision is journaled before it takes effect and the state is only ever changed by
applying a journal event, so ``resume=True`` continues exactly where a killed run stopped:
finished trials are kept, unfinished ones re-dispatched under the same index.
"""

from __future__ import annotations

import logging
import os
import platform
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from contract.progress import ELAPSED, STEP, TOKENS
from contract.trials import (
    BASELINE_SOURCE,
    NOISE_SOURCE,
    RESEED_BASELINE_SOURCE,
    RESEED_SOURCE,
    TEST_BASELINE_SOURCE,
    TEST_BEST_SOURCE,
)
from orchestrator.acceptance import judge
from orchestrator.acceptance.planning import AcceptancePlanning, ProposeFields
from orchestrator.agent.base import AGENT_FAILURES, Agent
from orchestrator.agent.builtin import BuiltinAgent
from orchestrator.agent.factory import make_agent
from orchestrator.baseline import refuse_broken_baseline
from orchestrator.comparable import RefusedRecord, refuse_other_data
from orchestrator.config import StudyConfig, redact_url
from orchestrator.errors import UserError
from orchestrator.events import (
    JOURNAL_VERSION,
    ContextReset,
    Event,
    PhaseChanged,
    PolicyChanged,
    SourceChosen,
    StudyFinished,
    StudyStarted,
    TrialFinished,
    TrialProposed,
)
from orchestrator.executor import Executor, Progress, make_executor
from orchestrator.journal import E, Journal, journal_path, read_events
from orchestrator.levels.arbiter import make_arbiter
from orchestrator.levels.facts import study_facts
from orchestrator.levels.hooks import (
    MechanismHost,
    NoopMechanismHost,
    NoopResearchDriver,
    ResearchDriver,
    research_trigger,
)
from orchestrator.levels.level15 import run_level15
from orchestrator.levels.planner import plan_search_trial
from orchestrator.levels.rules import keep_rule
from orchestrator.patches import (
    PatchStoreError,
    load_patch,
    patch_sha_of,
    split_config,
    store_patch,
    with_patch,
)
from orchestrator.phases import Phase, PhaseFacts, next_phase
from orchestrator.pruning import PrunedRecord, Pruner
from orchestrator.runlock import RunLock
from orchestrator.state import StudyState, rebuild_state
from orchestrator.summary import StudySummary, summarize
from trainer.spec import TrialResult, TrialSpec

if TYPE_CHECKING:  # typing_extensions comes with pydantic; typing has Unpack from 3.12 only
    from typing_extensions import Unpack

log = logging.getLogger(__name__)

# Seconds the loop waits for a result when it cannot plan anything else.
POLL_INTERVAL_S = 0.2

# The final re-runs: the search is over once every other trial is in.
FINAL_SOURCES = (RESEED_SOURCE, RESEED_BASELINE_SOURCE)

# ("event", journal event) after every append, ("tick", {index: progress}) while waiting,
# ("notice", text) when trials wait on something the user must fix.
Observer = Callable[[str, object], None]


class FinishedFields(TypedDict, total=False):
    """``trial_finished``'s fields that only some trials have: one left out here is left
    out of the journal line (an event is written with the fields its writer set). Each is
    a typed record (comparable's ``RefusedRecord``, acceptance's ``AcceptanceRecord`` and
    ``BestEstimateRecord``, pruning's ``PrunedRecord``) as a plain dict: the event keeps
    its fields loose, so a journal of another version still reads."""

    refused: dict[str, object]
    acceptance: dict[str, object]
    best_estimate: dict[str, object] | None
    pruned: dict[str, object]


class StudyOptions(TypedDict, total=False):
    """:func:`run_study`'s keywords beyond the config and run dir (see :func:`_run_study`)."""

    resume: bool
    mechanism_host: MechanismHost | None
    research: ResearchDriver | None
    observer: Observer | None
    executor: Executor | None
    agent: Agent | None


def _count(value: object) -> float:
    """A number of a progress report as the trainer sent it (0 when it sent none)."""
    return value if isinstance(value, int | float) else 0


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("bilevel-autoresearch", "torch", "openai", "rq", "redis", "pydantic"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def check_services(config: StudyConfig) -> None:
    """Everything that would fail later, checked before any trial runs."""
    if config.executor == "inline":  # rq workers may hold the code elsewhere: they check
        from trainer.objective import preflight as objective_preflight

        if problem := objective_preflight(config.objective_spec()):
            raise UserError(problem)
    if config.llm.provider == "openai":
        from orchestrator.llm import preflight as llm_preflight

        llm_preflight(config.llm)
    if config.executor == "rq":
        from redis import Redis
        from redis.exceptions import RedisError

        try:
            Redis.from_url(config.rq.redis_url, socket_connect_timeout=3).ping()
        except (RedisError, OSError, ValueError) as exc:  # down, refused, or a malformed URL
            raise UserError(
                f"Redis at {redact_url(config.rq.redis_url)} does not answer ({type(exc).__name__}); "
                "start it (make up) or use --executor inline"
            ) from None


class StudyRunner(AcceptancePlanning):
    """One run of the loop over one journal. Use :func:`run_study`."""

    def __init__(
        self,
        config: StudyConfig,
        journal: Journal,
        state: StudyState,
        agent: Agent,
        executor: Executor,
        host: MechanismHost,
        research: ResearchDriver,
        observer: Observer | None,
    ) -> None:
        self.config, self.journal, self.state = config, journal, state
        self.agent, self.executor, self.host, self.research = agent, executor, host, research
        self.observer = observer
        self.fallback = BuiltinAgent()
        # Every comparison of two values goes through it, so maximised metrics compare right too.
        self.metric = config.metric()
        self.objective = config.objective_spec()  # None for GPT: the spec's preset says all
        self.arbiter = make_arbiter(config.levels.arbiter)
        self.pruner = Pruner(config.pruning, self.metric) if config.pruning_active() else None
        journal.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        self.state.apply(event)
        if self.observer:
            self.observer("event", event)

    def emit(self, event: E) -> E:
        return self.journal.append(event)

    # -------------------------------------------------------------- dispatch
    def spec_for(
        self, index: int, config: Mapping[str, object], seed: int, eval_split: str = "val"
    ) -> TrialSpec:
        # A code trial's config names its recipe diff; the trainer takes the diff itself.
        params, patch = split_config(config, self.state.patches)
        return TrialSpec(
            trial_id=f"{self.config.name}-{self.state.run_id}-{index}",
            index=index,
            preset=self.config.objective.preset if self.objective is None else "",
            dataset=self.config.objective.dataset if self.objective is None else "",
            budget=self.config.budget(),
            config=params,
            patch=patch,
            seed=seed,
            device=self.config.objective.device,
            objective=self.objective,
            # arg-type: the split comes from the journal as a str (events.TrialProposed);
            # TrialSpec validates it is "val" or "test".
            eval_split=eval_split,  # type: ignore[arg-type]
        )

    def propose(
        self,
        changes: Mapping[str, object],
        config: Mapping[str, object],
        *,
        seed: int | None = None,
        patch: str | None = None,
        **fields: Unpack[ProposeFields],
    ) -> None:
        """Journal a trial, then dispatch it. ``patch``: a code trial's own recipe diff,
        stored by its sha256 (which ``config`` names) before the event that names it; a
        re-run of a code trial passes its config alone, whose sha names the stored diff."""
        index = self.state.next_index()
        seed = self.config.seed if seed is None else seed
        split = fields.get("eval_split", "val")
        if patch is not None:
            sha = store_patch(self.journal.run_dir, patch)
            self.state.patches[sha] = patch
            config = with_patch(config, sha)
        event = TrialProposed(
            index=index,
            changes=dict(changes),
            config=dict(config),
            seed=seed,
            patch_sha256=patch_sha_of(config),
            **fields,
        )
        self.emit(event)
        self.executor.submit(self.spec_for(index, config, seed, split))

    def finish(self, result: TrialResult, *, pruned: PrunedRecord | None = None) -> None:
        record = self.state.trials.get(result.spec.index)
        if record is None or record.finished:
            return  # a duplicate delivery (a retried job finishing twice): never record twice
        if record.source == BASELINE_SOURCE:
            refuse_broken_baseline(result, self.objective.kind if self.objective else "gpt")
        result, refused = self.comparable(result)
        fields: FinishedFields = {}
        if refused is not None:
            fields["refused"] = dict(refused)
        kept, acceptance = self.keep(record, result)
        best = self.state.best()
        best_after = result.value if kept else (best.value if best else None)
        estimate = None
        if self.rule == "paired":
            after = self.state_after(record, result, kept)
            estimate = judge.best_estimate(after)
            if estimate is not None:
                best_after = estimate.mean  # the mean of its evaluations, not one lucky draw
            if acceptance is not None:
                fields["acceptance"] = dict(acceptance)
            fields["best_estimate"] = dict(estimate.as_dict()) if estimate else None
        if pruned is not None:
            fields["pruned"] = dict(pruned)
        event = TrialFinished(
            index=record.index,
            # read back from its JSON, so every field counts as set: the journal holds it whole
            result=TrialResult.model_validate(result.model_dump(mode="json")),
            kept=kept,
            best_value=best_after,
            source=record.source,
            fired=record.fired,
            attempts=self.executor.attempts(record.index),
            **fields,
        )
        if self.metric.name == "val_bpb":  # GPT journals keep the old name too
            event.best_val_bpb = best_after
        self.emit(event)
        if self.rule == "paired":
            self.update_noise()

    def prune(self, progress: dict[int, Progress]) -> dict[int, Progress]:
        """Stop the running trials whose curve is clearly worse than the incumbent's
        (orchestrator/pruning.py): journaled first as ``pruned``, then stopped, so a crash in
        between costs only the stopped trial's compute, never a record."""
        if self.pruner is None:
            return progress
        for index, verdict in self.pruner.check(self.state, progress):
            record, info = self.state.trials[index], progress[index]
            spec = self.spec_for(record.index, record.config, record.seed, record.eval_split)
            result = TrialResult.failed(
                spec,
                "pruned",
                verdict.reason(),
                steps=int(_count(info.get(STEP))),
                tokens=int(_count(info.get(TOKENS))),
                train_seconds=float(_count(info.get(ELAPSED))),
                curve=self.pruner.forget(index),
            )
            self.finish(result, pruned=verdict.as_event())
            self.executor.stop(index)
            progress = {i: p for i, p in progress.items() if i != index}
        return progress

    def comparable(self, result: TrialResult) -> tuple[TrialResult, RefusedRecord | None]:
        """The result, or an invalid one when it was measured on other data than the
        baseline (:mod:`orchestrator.comparable`)."""
        baseline = self.state.baseline()
        if baseline is None or baseline.index == result.spec.index or not baseline.result:
            return result, None
        reference = baseline.result.data_fingerprint
        return refuse_other_data(result, reference, baseline.index)

    # -------------------------------------------------------------- planning
    def phase_facts(self) -> PhaseFacts:
        """What :func:`orchestrator.phases.next_phase` decides from, read off the state."""
        state, acc, paired = self.state, self.config.acceptance, self.rule == "paired"
        baseline_like = [t for t in state.ordered() if t.source in (BASELINE_SOURCE, NOISE_SOURCE)]
        budget_left = state.budget_used() < self.config.iterations
        noise_due = False
        if paired and self.measures_noise:
            noise_due = any(not t.finished for t in baseline_like) or (
                len(baseline_like) < self.baseline_draws()
                and budget_left
                and not self.deterministic_so_far()
            )
        elif self.rule == "baseline-floor":
            noise_due = len(baseline_like) < acc.baseline_repeats or state.noise_floor is None
        baseline_planned = state.baseline() is not None
        search_due = (paired and state.race is not None) or budget_left
        # A later phase's facts are read only when no earlier phase is due: the final
        # re-runs' test of determinism is not paid on every turn of the search.
        later = baseline_planned and not noise_due and not search_due
        return PhaseFacts(
            baseline_planned=baseline_planned,
            noise_due=noise_due,
            search_due=search_due,
            reruns_due=later and self.reruns_due(),
            test_due=later and self.test_due(),
        )

    def reruns_due(self) -> bool:
        """Noise-aware: the best still wants re-runs on fresh seeds, or the baseline its
        paired re-run on a seed the best used."""
        state, acc = self.state, self.config.acceptance
        reruns = sum(1 for t in state.trials.values() if t.source == RESEED_SOURCE)
        base_reruns = sum(1 for t in state.trials.values() if t.source == RESEED_BASELINE_SOURCE)
        wanted = reruns < acc.final_reruns or base_reruns < reruns
        return bool(
            self.measures_noise and wanted and state.best() and not self.deterministic_so_far()
        )

    def test_due(self) -> bool:
        """GPT, noise-aware: a held-out scoring of the best or the baseline not yet planned."""
        state, acc = self.state, self.config.acceptance
        if not (self.measures_noise and acc.final_test and self.objective is None):
            return False
        done = {t.source for t in state.trials.values()}
        scorings = ((TEST_BEST_SOURCE, state.best()), (TEST_BASELINE_SOURCE, state.baseline()))
        return any(source not in done and record is not None for source, record in scorings)

    def enter_phase(self) -> Phase:
        """The phase due now, journaled when it is not the one the study was in."""
        phase = next_phase(self.phase_facts())
        if phase != self.state.phase:
            self.emit(
                PhaseChanged(
                    phase=phase.value,
                    previous=self.state.phase or "",
                    iteration=self.state.next_index(),
                    budget_used=self.state.budget_used(),
                )
            )
        return phase

    def next_plan(self) -> Callable[[], None] | None:
        """The next trial to plan now, or None when nothing can be planned yet."""
        phase = self.enter_phase()
        if phase is Phase.BASELINE:
            defaults = self.config.search_space().defaults()
            return lambda: self.propose(
                {},
                defaults,
                source=BASELINE_SOURCE,
                hypothesis="baseline: the defaults",
                fired=[],
            )
        if phase is Phase.NOISE:
            return self.plan_noise()
        if phase is Phase.SEARCH:
            if self.rule == "paired" and self.state.race is not None:
                return self.plan_race()
            return self.plan_search
        if phase is Phase.RERUNS:
            return self.plan_rerun()
        if phase is Phase.TEST:
            return self.plan_final_test()
        return None

    def plan_noise(self) -> Callable[[], None] | None:
        """The baseline's next repeat, or None while the noise evidence is still running
        (the first keep decision waits for it)."""
        state = self.state
        baseline_like = [t for t in state.ordered() if t.source in (BASELINE_SOURCE, NOISE_SOURCE)]
        if self.rule == "paired":
            if any(not t.finished for t in baseline_like):
                return None
            return self.plan_repeat(len(baseline_like))
        if len(baseline_like) < self.config.acceptance.baseline_repeats:
            return self.plan_repeat(len(baseline_like))
        if all(t.finished for t in baseline_like):  # baseline-floor: its floor, once
            self.record_noise_floor(baseline_like)
        return None

    def plan_rerun(self) -> Callable[[], None] | None:
        """The best's next re-run on a fresh seed, then the baseline on the same seed
        (paired), once every search trial is in."""
        state = self.state
        if any(not t.finished for t in state.ordered() if t.source not in FINAL_SOURCES):
            return None  # the best is not final until every search trial is in
        reruns = [t for t in state.ordered() if t.source == RESEED_SOURCE]
        base_reruns = [t for t in state.ordered() if t.source == RESEED_BASELINE_SOURCE]
        best, baseline = state.best(), state.baseline()
        assert best is not None and baseline is not None
        if len(base_reruns) < len(reruns):  # the baseline on the same fresh seed: paired
            seed = reruns[len(base_reruns)].seed
            return lambda: self.propose(
                {},
                baseline.config,
                source=RESEED_BASELINE_SOURCE,
                hypothesis=f"final re-run of the baseline on seed {seed}, paired with the best's",
                fired=[],
                seed=seed,
            )
        return lambda: self.propose(
            {},
            best.config,
            source=RESEED_SOURCE,
            hypothesis=f"final re-run of best trial #{best.index} on another seed",
            fired=[],
            seed=self.config.seed + 1000 + len(reruns),
        )

    def plan_final_test(self) -> Callable[[], None] | None:
        """GPT, noise-aware: the best and the baseline scored once on the held-out test
        split, after everything else (no trial was ever selected on it)."""
        state, acc = self.state, self.config.acceptance
        if not (self.measures_noise and acc.final_test and self.objective is None):
            return None
        if any(not t.finished for t in state.ordered()):
            return None  # the best is final only when every trial is in
        best, baseline = state.best(), state.baseline()
        done = {t.source for t in state.ordered()}
        for source, record in ((TEST_BEST_SOURCE, best), (TEST_BASELINE_SOURCE, baseline)):
            if source in done or record is None:
                continue
            return lambda: self.propose(
                {},
                record.config,
                source=source,
                hypothesis=f"trial #{record.index} scored on the held-out test split",
                fired=[],
                eval_split="test",
            )
        return None

    def plan_search(self) -> None:
        self.at_boundary()
        plan = plan_search_trial(
            self.state,
            self.agent,
            self.fallback,
            self.host,
            self.arbiter,
        )
        if (choice := plan.choice) is not None:
            self.emit(
                SourceChosen(
                    index=choice["index"],
                    chosen=choice["chosen"],
                    trial_source=choice["trial_source"],
                    rule=choice["rule"],
                    offered=choice["offered"],
                    credits={name: dict(row) for name, row in choice["credits"].items()},
                    preempted=[dict(row) for row in choice["preempted"]],
                )
            )
        self.propose(
            plan.changes,
            plan.config,
            source=plan.source,
            hypothesis=plan.hypothesis,
            fired=plan.fired,
            offered=plan.offered,
            rejected=plan.rejected,
            patch=plan.patch,
        )

    def at_boundary(self) -> None:
        state, levels = self.state, self.config.levels
        done = sum(1 for t in state.search_trials() if t.finished)
        # Policy first: a research session started at this boundary must see the policy
        # (frozen set, focus) that the next trials run under, not the one it replaces.
        if levels.policy and done - state.policy_at >= levels.policy_every and done > 0:
            self.run_policy(done)
        self.research.at_boundary(state, self.journal)
        if levels.restart:
            trigger = research_trigger(state, state.reset_at)
            if trigger:
                done = sum(1 for t in state.search_trials() if t.finished)
                self.emit(
                    ContextReset(from_index=state.next_index(), trigger=trigger, after_trials=done)
                )

    def run_policy(self, done: int) -> None:
        ctx = self.state.hook_context(self.state.next_index())
        space = self.config.search_space()
        try:
            policy, diagnosis, diff, notes = run_level15(
                self.agent,
                ctx,
                self.state.policy,
                space,
                facts=study_facts(self.config, self.state, proposer=False),
                keep_rule=keep_rule(self.config, self.state),
                objective=self.state.objective_text(),
            )
        except AGENT_FAILURES as exc:  # LLM down for good: the old policy stays, the study goes on
            policy, diagnosis, diff, notes = self.state.policy, f"level 1.5 failed: {exc}", {}, []
        self.emit(
            PolicyChanged(
                iteration=self.state.next_index(),
                after_trials=done,
                diagnosis=diagnosis,
                diff=diff,
                policy=policy.model_dump(mode="json"),
                notes=notes,
            )
        )

    # -------------------------------------------------------------- the loop
    def in_flight_limit(self) -> int:
        """``parallel`` as a number, or for "auto" what the executor finds worth running now
        (rq: live workers + 1, followed as workers join or leave)."""
        parallel = self.config.parallel
        return parallel if isinstance(parallel, int) else self.executor.useful_in_flight()

    def run(self) -> None:
        for record in self.state.pending():  # resume: same index, same trial id
            self.executor.submit(
                self.spec_for(record.index, record.config, record.seed, record.eval_split)
            )
        while True:
            # A safe point: what the research sessions journaled meanwhile reaches the state
            # here, on this thread, before anything is decided from it.
            self.journal.deliver()
            can_plan = len(self.executor.in_flight()) < self.in_flight_limit()
            plan = self.next_plan() if can_plan else None
            if plan is not None:
                plan()
                for result in self.executor.wait(0):
                    self.finish(result)
                continue
            if not self.executor.in_flight():
                if self.next_plan() is None:
                    break
                continue
            for result in self.executor.wait(POLL_INTERVAL_S):
                self.finish(result)
            progress = self.prune(self.executor.progress())
            if self.observer:
                self.observer("tick", progress)
            if notice := self.executor.notice():  # e.g. no live worker: never a silent wait
                log.warning("%s", notice)
                if self.observer:
                    self.observer("notice", notice)
        self.finish_study()

    def finish_study(self) -> None:
        self.journal.deliver()
        summary = summarize(self.state, self.journal.run_dir, self.agent.label)
        reruns = [
            t.value
            for t in self.state.ordered()
            if t.source == RESEED_SOURCE and t.value is not None
        ]
        event = StudyFinished(
            best=dict(summary.best) if summary.best is not None else None,
            metric=self.metric.name,
            direction=self.metric.direction,
            baseline_value=summary.baseline_value,
            improvement=summary.improvement,
            trials_by_status=summary.trials_by_status,
            llm_cost_usd=summary.llm_cost_usd,
            final_reruns=reruns,
            baseline_reruns=summary.baseline_reruns,
            rerun_improvement=summary.rerun_improvement,
            test_best=summary.test_best,
            test_baseline=summary.test_baseline,
            test_improvement=summary.test_improvement,
        )
        if self.metric.name == "val_bpb":  # GPT journals keep the old name too
            event.baseline_val_bpb = summary.baseline_value
        self.emit(event)


def load_patches(state: StudyState, run_dir: Path, journal: Journal) -> None:
    """The text of every recipe diff the journal's trials name (a resume re-dispatches them
    and Level 1 is shown them), or a UserError when one is missing or was changed."""
    for record in state.ordered():
        sha = patch_sha_of(record.config)
        if sha is None or sha in state.patches:
            continue
        try:
            state.patches[sha] = load_patch(run_dir, sha)
        except PatchStoreError as exc:
            journal.close()
            raise UserError(
                f"{exc}; restore the run folder's patches/ or start elsewhere"
            ) from None


def run_study(config: StudyConfig, out_dir: Path, **options: Unpack[StudyOptions]) -> StudySummary:
    """Run (or resume) a study to the end and return its summary (see :func:`_run_study`),
    holding the run dir's lock throughout: readers see at once when the process is gone,
    and a second study on the same run dir is refused."""
    with RunLock(Path(out_dir)):
        return _run_study(config, Path(out_dir), **options)


def _run_study(
    config: StudyConfig,
    out_dir: Path,
    *,
    resume: bool = False,
    mechanism_host: MechanismHost | None = None,
    research: ResearchDriver | None = None,
    observer: Observer | None = None,
    executor: Executor | None = None,
    agent: Agent | None = None,
) -> StudySummary:
    """Run (or resume) a study to the end and return its summary.

    Raises :class:`UserError` before any trial runs for an existing journal without
    ``resume``, a missing journal with it, an unset API key, an unreachable LLM or Redis.
    """
    out_dir = Path(out_dir)
    path = journal_path(out_dir)
    if path.exists() and path.stat().st_size > 0 and not resume:
        raise UserError(
            f"{path} already exists; pass --resume to continue it or --out to start elsewhere"
        )
    if resume and not path.exists():
        raise UserError(f"{path} does not exist; nothing to resume (drop --resume)")
    check_services(config)
    make_arbiter(config.levels.arbiter)  # a bad levels.arbiter fails before the journal opens
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        journal = Journal(path)  # truncates a torn last line before we read it
        events = read_events(path)
    except ValueError as exc:  # corruption before the last line is not a torn write
        raise UserError(
            f"{path} is damaged ({exc}); restore it or start with another --out"
        ) from None
    started = [e for e in events if isinstance(e, StudyStarted)]
    if started and started[0].study != config.name:
        journal.close()
        raise UserError(
            f"{path} belongs to study {started[0].study!r}, not {config.name!r}; "
            "resume it with its own study file or pick another --out"
        )
    state = rebuild_state(config, events)
    load_patches(state, out_dir, journal)
    agent = agent or make_agent(config, journal)  # a caller's own agent (tests, libraries)
    if executor is None:
        executor = make_executor(
            config.executor,
            redis_url=config.rq.redis_url,
            queue_name=config.rq.queue,
            code_queue_name=config.rq.code_queue,
        )
    runner = StudyRunner(
        config,
        journal,
        state,
        agent,
        executor,
        mechanism_host or NoopMechanismHost(),
        research or NoopResearchDriver(),
        observer,
    )
    try:
        # A finished study resumed with a larger --iterations goes on; otherwise it is done.
        more = state.budget_used() < config.iterations
        if not state.finished or more:
            runner.emit(
                StudyStarted(
                    version=JOURNAL_VERSION,
                    study=config.name,
                    config=config.public_dict(),
                    versions=_versions(),
                    hardware=f"{platform.machine()} {platform.processor() or ''} cpus={os.cpu_count()}".strip(),
                    agent=agent.label,
                    metric=config.metric().name,
                    direction=config.metric().direction,
                    resumed=bool(events),
                    run_id=state.run_id or uuid.uuid4().hex[:10],
                )
            )
            runner.run()
        return summarize(state, out_dir, agent.label)
    finally:
        try:
            runner.research.close()  # raises a research session's bug, after the cleanup below
            journal.deliver()  # what a closing session journaled reaches the state too
        finally:
            executor.close()
            journal.close()
