"""The acceptance side of the study loop: keep decisions, the baseline's repeats, races and
the noise estimate's journal entries, as a mixin of :class:`orchestrator.study.StudyRunner`.

The decisions themselves are in :mod:`orchestrator.acceptance.judge` (on study state) and
:mod:`orchestrator.acceptance.race` (on plain numbers); this module only plans the trials
they ask for and journals what they decided.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, TypedDict

from contract.trials import INTENSIFY_SOURCE, NOISE_SOURCE, NON_SEARCH_SOURCES
from orchestrator.acceptance import judge
from orchestrator.acceptance.race import CONFIDENCE, Decision, DecisionRecord
from orchestrator.config import StudyConfig
from orchestrator.events import ChallengeDecided, NoiseFloor
from orchestrator.journal import E
from orchestrator.metric import Metric
from orchestrator.state import StudyState, TrialRecord
from trainer.spec import TrialResult

if TYPE_CHECKING:  # typing_extensions comes with pydantic; typing has Unpack from 3.12 only
    from typing_extensions import Unpack

# The baseline-floor rule's floor = this many sample standard deviations of the baseline
# repeats (the paired rule learns its margin instead: orchestrator/acceptance).
NOISE_FLOOR_SIGMAS = 2.0


# The paired rule's baseline draws, unless the study file sets ``baseline_repeats``: one per
# this many iterations (the baseline itself included), up to the default. A short study
# then keeps its trials for the search; its races' own pairs are the first noise evidence
# there (orchestrator/acceptance/race.py), so nothing is kept on an unmeasured margin.
ITERATIONS_PER_BASELINE_DRAW = 10


class AcceptanceRecord(DecisionRecord):
    """``trial_finished.acceptance``: a search trial's keep decision under the paired rule."""

    incumbent: int  # the incumbent's index when it was decided


class ProposeFields(TypedDict, total=False):
    """The ``trial_proposed`` fields a planned trial sets beyond its index, changes, config
    and seed; one left out is left out of the journal line."""

    source: str
    hypothesis: str
    fired: list[str]
    offered: list[str]
    rejected: list[str]
    eval_split: str


class AcceptancePlanning:
    """What :class:`~orchestrator.study.StudyRunner` does for its acceptance rule."""

    config: StudyConfig
    state: StudyState
    metric: Metric

    def emit(self, event: E) -> E:  # the runner's: journal, then apply
        raise NotImplementedError

    def propose(
        self,
        changes: Mapping[str, object],
        config: Mapping[str, object],
        *,
        seed: int | None = None,
        patch: str | None = None,
        **fields: Unpack[ProposeFields],
    ) -> None:
        raise NotImplementedError

    def state_after(self, record: TrialRecord, result: TrialResult, kept: bool) -> StudyState:
        """The state as it will be once this result is journaled (for the estimate it carries)."""
        trials = dict(self.state.trials)
        trials[record.index] = record.model_copy(
            update={"status": result.status, "value": result.value, "kept": kept}
        )
        if not kept:
            return dataclasses.replace(self.state, trials=trials)
        return dataclasses.replace(
            self.state, trials=trials, best_index=record.index, best_since=record.index + 1
        )

    def update_noise(self) -> None:
        """Journal the paired noise estimate whenever new evidence changed it."""
        state = self.state
        est = judge.noise(state, state.best())
        if est.dof == 0 and not est.deterministic:
            return
        floor = est.margin(CONFIDENCE)
        if (floor, est.paired_sd, est.dof) == (state.noise_floor, state.noise_sd, state.noise_dof):
            return
        self.emit(
            NoiseFloor(
                values=judge.baseline_values(state),
                floor=floor,
                method=f"one-sided {CONFIDENCE:.0%} t margin of a paired difference; {est.how}"
                + (f"; left out as outliers: {list(est.dropped)}" if est.dropped else ""),
                sd=est.paired_sd,
                dof=est.dof,
                deterministic=est.deterministic,
            )
        )

    def keep(
        self, record: TrialRecord, result: TrialResult
    ) -> tuple[bool, AcceptanceRecord | None]:
        """Whether a finished trial becomes the incumbent now, and (paired rule) the decision
        behind it; a ``race`` verdict keeps nothing yet and opens a race."""
        if result.status != "ok" or result.value is None or record.source in NON_SEARCH_SOURCES:
            return False, None
        best = self.state.best()
        if best is None or best.value is None:
            return True, None
        if self.rule == "paired":
            score = self.metric.score(result.value)
            assert score is not None
            decision = judge.first_decision(self.state, record, score)
            if decision is None:
                return True, None
            behind: AcceptanceRecord = {**decision.as_dict(), "incumbent": best.index}
            return decision.verdict == "accept", behind
        margin = (self.state.noise_floor or 0.0) if self.rule == "baseline-floor" else 0.0
        return self.metric.better(result.value, best.value, margin=margin), None

    @property
    def rule(self) -> str:
        return self.config.acceptance.rule

    @property
    def measures_noise(self) -> bool:
        """Whether the rule repeats the baseline, re-runs the best and scores the test split."""
        declared = self.config.acceptance.declared_deterministic(self.config.objective)
        return self.rule == "baseline-floor" or (self.rule == "paired" and not declared)

    def baseline_draws(self) -> int:
        """How many times the paired rule runs the baseline (its first draw included)."""
        acc = self.config.acceptance
        if "baseline_repeats" in acc.model_fields_set:
            return acc.baseline_repeats
        share = 1 + self.config.iterations // ITERATIONS_PER_BASELINE_DRAW
        return min(acc.baseline_repeats, share)

    def plan_repeat(self, done: int) -> Callable[[], None]:
        """The baseline on the next seed: the first evidence of the noise."""
        defaults = self.config.search_space().defaults()
        return lambda: self.propose(
            {},
            defaults,
            source=NOISE_SOURCE,
            hypothesis="baseline repeat on another seed (noise estimate)",
            fired=[],
            seed=self.config.seed + done,
        )

    def deterministic_so_far(self) -> bool:
        """The repeats so far were identical: the objective measures as deterministic."""
        return judge.noise(self.state).deterministic

    def plan_race(self) -> Callable[[], None] | None:
        """The open race's next trial or its decision (orchestrator/acceptance/judge.py)."""
        step = judge.race_step(self.state)
        if step.decision is not None:
            decision = step.decision
            return lambda: self.close_race(decision)
        if step.run is None:
            return None  # its trial is still running
        run, seed, role = step.run, step.seed, step.role
        challenger = self.state.race[0] if self.state.race else run.index
        return lambda: self.propose(
            {},
            run.config,
            source=INTENSIFY_SOURCE,
            hypothesis=f"re-evaluation of the {role} (trial #{run.index}) on seed {seed}, "
            f"paired with the other side of the race for trial #{challenger}",
            fired=[],
            seed=seed,
        )

    def close_race(self, decision: Decision) -> None:
        assert self.state.race is not None
        challenger, incumbent = self.state.race
        accepted = decision.verdict == "accept"
        after = self.state
        if accepted:
            after = dataclasses.replace(
                after, best_index=challenger, best_since=self.state.next_index()
            )
        estimate = judge.best_estimate(after)
        self.emit(
            ChallengeDecided(
                challenger=challenger,
                incumbent=incumbent,
                verdict="accept" if accepted else "reject",
                pairs=decision.pairs,
                gain=decision.gain,
                margin=decision.margin,
                noise_sd=decision.noise_sd,
                dof=decision.dof,
                reason=decision.reason,
                best_estimate=dict(estimate.as_dict()) if estimate else None,
            )
        )

    def record_noise_floor(self, trials: list[TrialRecord]) -> None:
        values = [t.value for t in trials if t.value is not None]
        floor = NOISE_FLOOR_SIGMAS * statistics.stdev(values) if len(values) >= 2 else 0.0
        self.emit(
            NoiseFloor(
                values=values,
                floor=floor,
                method=f"{NOISE_FLOOR_SIGMAS:g} x sample stdev of baseline repeats over seeds",
            )
        )
