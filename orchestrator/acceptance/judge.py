"""The paired rule applied to a study's state: what is known, what to decide, what to run.

The noise model (:mod:`.noise`) and the racing decision (:mod:`.race`) work on plain
numbers; this module reads them out of :class:`~orchestrator.state.StudyState`, so the study
loop only asks "keep this?", "what does the open race need next?" and "how good is the
incumbent really?". Everything is derived from the trials, so a resumed study decides
exactly as the interrupted one would have.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TypedDict

from contract.trials import BASELINE_SOURCE
from orchestrator.acceptance.noise import Evaluation, NoiseEstimate, estimate
from orchestrator.acceptance.race import CONFIDENCE, MAX_PAIRS, Decision, decide, race_seed
from orchestrator.acceptance.tdist import t_quantile

if TYPE_CHECKING:  # the state imports the rules, which read the judge
    from orchestrator.config import StudyConfig
    from orchestrator.state import StudyState, TrialRecord

# Two-sided confidence of the interval around the reported best: the convention readers
# expect beside a mean.
INTERVAL_CONFIDENCE = 0.95
# Evaluations made after the incumbent was selected (later races, the final re-runs) that
# suffice to report it from them alone: two give a mean free of the selection's luck and a
# spread; below that, every evaluation counts (the draws that selected it included).
MIN_UNSELECTED = 2


def config_key(config: Mapping[str, object]) -> str:
    """One string per configuration: evaluations of equal configs pool."""
    return json.dumps(config, sort_keys=True, default=str)


def paired_rule(config: StudyConfig) -> bool:
    return config.acceptance.rule == "paired"


def evaluations(state: StudyState) -> list[Evaluation]:
    """Every finished validation-split evaluation with a value, in minimise-normal scores."""
    metric = state.config.metric()
    out = []
    for t in state.ordered():
        score = metric.score(t.value)
        if t.finished and t.eval_split == "val" and score is not None and math.isfinite(score):
            out.append(Evaluation(config_key(t.config), t.seed, score))
    return out


def noise(state: StudyState, focus: TrialRecord | None = None) -> NoiseEstimate:
    """The paired noise now, weighing ``focus``'s (the incumbent's) own evidence."""
    declared = state.config.acceptance.declared_deterministic(state.config.objective)
    key = config_key(focus.config) if focus is not None else None
    return estimate(evaluations(state), focus=key, deterministic=declared)


def scores_of(state: StudyState, record: TrialRecord) -> dict[int, float]:
    """``{seed: score}`` of ``record``'s configuration (any source, validation split)."""
    key = config_key(record.config)
    table: dict[int, list[float]] = {}
    for e in evaluations(state):
        if e.config == key:
            table.setdefault(e.seed, []).append(e.score)
    return {s: statistics.fmean(v) for s, v in table.items()}


class BestEstimateRecord(TypedDict):
    """A :class:`BestEstimate` as journaled (``best_estimate`` of ``trial_finished`` and
    ``challenge_decided``) and summarised."""

    index: int
    mean: float
    n: int
    low: float | None
    high: float | None
    all_mean: float | None
    all_n: int
    unselected: bool


@dataclass(frozen=True)
class BestEstimate:
    """The incumbent's value as the mean of its evaluations, with n and an interval."""

    index: int
    mean: float  # in the metric's own units
    n: int
    low: float | None  # None: too little evidence for an interval
    high: float | None
    all_mean: float | None = None  # every evaluation, the ones that selected it included
    all_n: int = 0
    unselected: bool = False  # mean/n are over the evaluations made after its selection

    def as_dict(self) -> BestEstimateRecord:
        return BestEstimateRecord(
            index=self.index,
            mean=self.mean,
            n=self.n,
            low=self.low,
            high=self.high,
            all_mean=self.all_mean,
            all_n=self.all_n,
            unselected=self.unselected,
        )

    def text(self, digits: int = 5) -> str:
        return estimate_text(self.as_dict(), digits)


def best_estimate(state: StudyState) -> BestEstimate | None:
    """The incumbent's value as a mean of its evaluations: of those made after it was
    selected (later races, the final re-runs) once there are :data:`MIN_UNSELECTED`, else of
    all of them (search draw and race re-evaluations), so the selection's luck leaves the
    reported number as evidence comes in."""
    best = state.best()
    if best is None or best.value is None:
        return None
    key = config_key(best.config)
    evals = [
        (t.index, t.value)
        for t in state.ordered()
        if t.finished and t.eval_split == "val" and t.value is not None
        if config_key(t.config) == key
    ]
    every = [v for _, v in evals]
    fresh = [v for i, v in evals if i >= state.best_since]
    unselected = len(fresh) >= MIN_UNSELECTED
    values = fresh if unselected else every
    n = len(values)
    mean = statistics.fmean(values)
    all_mean, all_n = statistics.fmean(every), len(every)

    def made(low: float | None, high: float | None) -> BestEstimate:
        return BestEstimate(best.index, mean, n, low, high, all_mean, all_n, unselected)

    est = noise(state, best)
    if est.deterministic:
        return made(mean, mean)
    if est.observation_sd is not None and est.observation_dof > 0:
        sd, dof = est.observation_sd, est.observation_dof
    elif n >= 2:
        sd, dof = statistics.stdev(values), n - 1
    else:
        return made(None, None)
    half = t_quantile(1 - (1 - INTERVAL_CONFIDENCE) / 2, dof) * sd / math.sqrt(n)
    return made(mean - half, mean + half)


def first_decision(state: StudyState, record: TrialRecord, score: float) -> Decision | None:
    """The keep decision on a search trial's first draw (None: no incumbent yet)."""
    best = state.best()
    if best is None:
        return None
    mine = scores_of(state, best)
    if not mine:
        return None
    mean = statistics.fmean(mine.values())
    paired = mine.get(record.seed, mean)
    est = noise(state, best)
    left = state.config.iterations - state.budget_used()
    cap = MAX_PAIRS if left > 0 and state.race is None else 1
    return decide(
        [paired - score], est, max_pairs=cap, gain_vs_mean=mean - score, incumbent_n=len(mine)
    )


@dataclass(frozen=True)
class RaceStep:
    """What an open race needs now: a trial to run, a decision, or to wait."""

    run: TrialRecord | None = None  # the config to evaluate (the challenger or incumbent)
    seed: int = 0
    role: str = ""  # "challenger" or "incumbent"
    decision: Decision | None = None


def race_step(state: StudyState) -> RaceStep:
    """The open race's next step: evaluate the next missing side of the next pair, or decide
    once the pairs in hand settle it (or the cap or the study's budget is reached)."""
    assert state.race is not None
    challenger, incumbent = state.trials[state.race[0]], state.trials.get(state.race[1])
    if incumbent is None or state.best_index != incumbent.index:
        return RaceStep(
            decision=Decision(
                "reject", 0, 0.0, None, None, 0, "the incumbent changed during the race"
            )
        )
    mine, theirs = scores_of(state, challenger), scores_of(state, incumbent)
    gains: list[float] = []
    for pair in range(MAX_PAIRS):
        seed = challenger.seed if pair == 0 else race_seed(state.config.seed, pair)
        if seed in mine and seed in theirs:
            gains.append(theirs[seed] - mine[seed])
            if pair == 0:
                continue
            decision = decide(gains, noise(state, incumbent), **_vs_mean(mine, theirs))
            if decision.verdict != "race":
                return RaceStep(decision=decision)
            continue
        if state.budget_used() >= state.config.iterations:
            break  # no trial left: decide on the pairs in hand
        # Both sides of a pair may run at once (a second worker need not idle); a side
        # already running is waited for, not run twice.
        for run, role, have in ((challenger, "challenger", mine), (incumbent, "incumbent", theirs)):
            if seed not in have and not _pending(state, run, seed):
                return RaceStep(run=run, seed=seed, role=role)
        return RaceStep()  # this pair's missing sides are running: wait for them
    est = noise(state, incumbent)
    if not gains:
        return RaceStep(
            decision=Decision(
                "reject", 0, 0.0, None, est.paired_sd, est.dof, "no paired draw completed"
            )
        )
    if len(gains) == 1:
        # The budget ran out before a fresh pair: the challenger's one draw is the draw that
        # made it look better. It replaces the incumbent only if clearly better; a close call
        # keeps the configuration with more evidence (no lucky last draw as the study's best).
        first = decide(gains, est, max_pairs=MAX_PAIRS, **_vs_mean(mine, theirs))
        if first.verdict == "race":
            reason = "budget spent before a fresh pair: a close call keeps the incumbent"
            first = replace(first, verdict="reject", reason=reason)
        return RaceStep(decision=first)
    return RaceStep(decision=decide(gains, est, max_pairs=len(gains), **_vs_mean(mine, theirs)))


class _VsMean(TypedDict):
    """The keywords of :func:`decide` that compare with the incumbent's mean."""

    gain_vs_mean: float
    incumbent_n: int


def _vs_mean(mine: dict[int, float], theirs: dict[int, float]) -> _VsMean:
    """The challenger's mean against the incumbent's, for :func:`decide`."""
    gain = statistics.fmean(theirs.values()) - statistics.fmean(mine.values())
    return _VsMean(gain_vs_mean=gain, incumbent_n=len(theirs))


def _pending(state: StudyState, record: TrialRecord, seed: int) -> bool:
    key = config_key(record.config)
    return any(
        not t.finished and t.seed == seed and config_key(t.config) == key for t in state.ordered()
    )


def keep_rule_text(config: StudyConfig, state: StudyState | None) -> str:
    """The keep rule in force with its current numbers, one paragraph for a prompt."""
    metric = config.metric()
    best = best_estimate(state) if state is not None else None
    incumbent = f" The incumbent's value: {best.text()}." if best else ""
    rule = config.acceptance.rule
    if rule == "strict":
        return (
            f"Keep rule (strict): a trial is kept when its single {metric.name} is better than "
            f"the incumbent's by any margin.{incumbent}"
        )
    if rule == "baseline-floor":
        floor = state.noise_floor if state is not None else None
        size = f"{floor:.5g}" if floor is not None else "(not measured yet)"
        return (
            f"Keep rule (baseline-floor): a trial is kept when its {metric.name} beats the "
            f"incumbent's by more than the noise floor {size}.{incumbent}"
        )
    est = noise(state, state.best()) if state is not None else None
    if est is not None and est.deterministic:
        return (
            f"Keep rule (paired): the objective is deterministic ({est.how}), so a trial is "
            f"kept when it is better than the incumbent by any margin; nothing is re-run."
            f"{incumbent}"
        )
    margin = est.margin(CONFIDENCE) if est is not None else None
    if margin is None or est is None or est.paired_sd is None:
        numbers = "the noise is not estimated yet, so every trial that looks better is raced"
    else:
        numbers = (
            f"it is kept at once if it beats the incumbent by more than {margin:.5g} "
            f"({metric.name}; one-sided {CONFIDENCE:.0%} t margin, paired noise sd "
            f"{est.paired_sd:.5g} with {est.dof} degrees of freedom, {est.how})"
        )
    return (
        f"Keep rule (paired): a trial is compared with the incumbent on the same seed; it is "
        f"dropped at once if it is no better; {numbers}; otherwise it is re-evaluated on fresh "
        f"seeds, each paired with the incumbent on that seed, up to {MAX_PAIRS} paired draws, "
        f"and kept if its mean paired gain stays positive. Each re-evaluation is a trial and "
        f"counts against the study's trials.{incumbent}"
    )


def baseline_values(state: StudyState) -> list[float]:
    """The metric's values of the baseline configuration's evaluations (for the journal)."""
    base = state.baseline()
    if base is None:
        return []
    key = config_key(base.config)
    return [
        t.value
        for t in state.ordered()
        if t.value is not None and t.eval_split == "val" and config_key(t.config) == key
        if t.source != BASELINE_SOURCE or t.index == base.index
    ]


def estimate_text(estimate: Mapping[str, object], digits: int = 5) -> str:
    """``3.50120 ± 0.00400 (95% interval, n=3 after its selection; all 5: 3.49000)``.

    ``estimate``: :meth:`BestEstimate.as_dict`, or the same object read from a journal."""
    mean, n, low, high = estimate["mean"], estimate["n"], estimate["low"], estimate["high"]
    which = ""
    if estimate.get("unselected"):
        which = f" after its selection; all {estimate['all_n']}: {estimate['all_mean']:.{digits}f}"
    if not isinstance(low, int | float) or not isinstance(high, int | float):  # None: too few
        return f"{mean:.{digits}f} (n={n}{which}, no interval: too few repeats)"
    return f"{mean:.{digits}f} ± {(high - low) / 2:.{digits}f} (95% interval, n={n}{which})"
