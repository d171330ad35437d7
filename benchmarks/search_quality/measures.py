"""Measures of search quality: regret curves, trials to a target, ranks and paired tests.

Normalised regret of a run after t trials = (f(x_t) − f*) / (f(x_0) − f*), where x_t is the
configuration the method would report after t trials (its best *observation* so far),
f is the noiseless objective, x_0 the defaults every method starts from, and f* the known
optimum (else the best value any method found on the problem). 1 means no better than the
defaults, 0 means the optimum. Scores are minimise-normal (a maximised metric is negated).

Methods are compared with the built-in agent *paired by seed* (seed s gives every method
the same noise draws and the same defaults): the exact sign-flip permutation test of
``orchestrator.stats`` on the per-seed differences of final regret (Monte Carlo with a fixed
seed beyond 16 seeds), two-sided.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.stats import sign_flip_p_value

from .methods import REFERENCE_METHOD, Run
from .problems import Problem

# The conventional significance level; the search-quality goal is stated at p < 0.05.
ALPHA = 0.05
# "Reached the target" = within 5% of the defaults' gap to the optimum.
TARGET_REGRET = 0.05
# Regrets closer than this are the same result (float noise in f, not a better search).
REGRET_TIE = 1e-9
# A gap below this means the defaults already sit at the optimum: regret is 0 then.
MIN_GAP = 1e-12
# The goal: no worse than the best Optuna sampler on at least this share of cheap problems.
GOAL_SHARE = 0.70


def best_so_far(run: Run, problem: Problem) -> list[float | None]:
    """Noiseless score of the configuration the method would report after each trial: our
    studies' incumbent (what their acceptance rule kept), a peer's best observation."""
    benchmark = problem.objective.get("kind") == "benchmark"  # others: no noiseless value
    if benchmark and run.incumbents is not None and len(run.incumbents) == len(run.scores):
        return [
            None if config is None else problem.noiseless_score(config, score or 0.0)
            for config, score in zip(run.incumbents, run.scores, strict=True)
        ]
    out: list[float | None] = []
    best_obs = math.inf
    best_true: float | None = None
    for score, config in zip(run.scores, run.configs, strict=True):
        if score is not None and score < best_obs:
            best_obs = score
            best_true = problem.noiseless_score(config, score)
        out.append(best_true)
    return out


def normalised(value: float | None, optimum: float, start: float) -> float:
    """(value − optimum) / (start − optimum); a run with no value yet is at the start (1)."""
    if value is None:
        return 1.0
    gap = start - optimum
    if gap <= MIN_GAP:
        return 0.0
    return max(0.0, (value - optimum) / gap)


def regret_curve(run: Run, problem: Problem, optimum: float) -> list[float]:
    """Normalised regret after 1, 2, ... trials."""
    start = run.scores[0]
    if start is None:  # the defaults failed: measure against the first value there is
        start = next((s for s in run.scores if s is not None), optimum)
    start_true = problem.noiseless_score(run.configs[0], start)
    return [normalised(v, optimum, start_true) for v in best_so_far(run, problem)]


def problem_optimum(problem: Problem, runs: Sequence[Run]) -> float:
    """The known optimum, else the best noiseless score any run found."""
    known = problem.known_optimum
    if known is not None:
        return known
    found = [v for r in runs for v in best_so_far(r, problem) if v is not None]
    return min(found) if found else 0.0


def trials_to_target(curve: Sequence[float], target: float = TARGET_REGRET) -> int | None:
    """Trials (1-based, defaults included) until regret ≤ target; None when never."""
    for index, regret in enumerate(curve):
        if regret <= target + REGRET_TIE:
            return index + 1
    return None


def average_ranks(values: dict[str, float]) -> dict[str, float]:
    """Rank 1 = lowest value; tied values share the mean of their ranks."""
    ordered = sorted(values, key=lambda k: values[k])
    ranks: dict[str, float] = {}
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and values[ordered[j + 1]] - values[ordered[i]] <= REGRET_TIE:
            j += 1
        for k in ordered[i : j + 1]:
            ranks[k] = (i + j) / 2 + 1
        i = j + 1
    return ranks


@dataclass(frozen=True)
class Comparison:
    """A method against the reference, paired by seed (difference = method − reference)."""

    n: int
    mean_difference: float
    p_value: float
    outcome: str  # from the reference's side: "win", "tie" or "loss"


def compare(method: dict[int, float], reference: dict[int, float]) -> Comparison:
    """Paired sign-flip test of final regrets on the seeds both have."""
    seeds = sorted(set(method) & set(reference))
    diffs = [method[s] - reference[s] for s in seeds]
    if not diffs:
        return Comparison(0, math.nan, math.nan, "tie")
    if all(abs(d) <= REGRET_TIE for d in diffs):
        return Comparison(len(diffs), 0.0, 1.0, "tie")
    p = sign_flip_p_value(diffs)
    mean = statistics.fmean(diffs)
    outcome = "tie" if p >= ALPHA else ("win" if mean > 0 else "loss")
    return Comparison(len(diffs), mean, p, outcome)


@dataclass(frozen=True)
class MethodSummary:
    method: str
    seeds: int
    median: float
    q1: float
    q3: float
    mean_rank: float
    median_trials_to_target: int | None  # None when fewer than half the seeds reach it
    reached: int  # seeds that reached the target
    vs_reference: Comparison | None  # None for the reference itself
    seconds: float  # mean wall time per run


def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    """(Q1, median, Q3) with linear interpolation (numpy's default)."""
    data = sorted(values)
    if len(data) == 1:
        return (data[0], data[0], data[0])

    def at(q: float) -> float:
        pos = q * (len(data) - 1)
        low = math.floor(pos)
        high = min(low + 1, len(data) - 1)
        return data[low] + (data[high] - data[low]) * (pos - low)

    return (at(0.25), at(0.5), at(0.75))


def median_or_none(values: Sequence[int | None]) -> int | None:
    """Median trials to target, counting 'never' as worse than any number; None when the
    median seed never got there."""
    ordered = sorted(values, key=lambda v: math.inf if v is None else v)
    middle = ordered[(len(ordered) - 1) // 2]  # the lower median: a whole number of trials
    return middle


def summarise(
    problem: Problem, runs: Sequence[Run], methods: Sequence[str]
) -> tuple[list[MethodSummary], dict[str, list[float]], float]:
    """Per-method summaries, the per-trial median curves, and the optimum used."""
    optimum = problem_optimum(problem, runs)
    curves = {(r.method, r.seed): regret_curve(r, problem, optimum) for r in runs}
    final = {m: {s: c[-1] for (mm, s), c in curves.items() if mm == m} for m in methods}
    seeds = sorted({s for (_m, s) in curves})
    rank_sum: dict[str, list[float]] = {m: [] for m in methods}
    for seed in seeds:
        present = {m: final[m][seed] for m in methods if seed in final[m]}
        for m, rank in average_ranks(present).items():
            rank_sum[m].append(rank)
    out: list[MethodSummary] = []
    median_curves: dict[str, list[float]] = {}
    for m in methods:
        if not final[m]:
            continue
        mine = [c for (mm, _s), c in sorted(curves.items()) if mm == m]
        length = min(len(c) for c in mine)
        median_curves[m] = [statistics.median(c[t] for c in mine) for t in range(length)]
        reached = [trials_to_target(c) for c in mine]
        q1, med, q3 = quartiles(list(final[m].values()))
        reference = final.get(REFERENCE_METHOD, {})
        out.append(
            MethodSummary(
                method=m,
                seeds=len(final[m]),
                median=med,
                q1=q1,
                q3=q3,
                mean_rank=statistics.fmean(rank_sum[m]) if rank_sum[m] else math.nan,
                median_trials_to_target=median_or_none(reached),
                reached=sum(1 for r in reached if r is not None),
                vs_reference=None
                if m == REFERENCE_METHOD or not reference
                else compare(final[m], reference),
                seconds=statistics.fmean(r.seconds for r in runs if r.method == m),
            )
        )
    return out, median_curves, optimum


@dataclass(frozen=True)
class GoalRow:
    problem: str
    builtin_median: float
    best_optuna: str
    best_optuna_median: float
    no_worse_than_optuna: bool
    random_p: float
    better_than_random: bool


def goal_row(
    problem: str, summaries: Sequence[MethodSummary], optuna: Sequence[str]
) -> GoalRow | None:
    """The goal (no worse than the best Optuna sampler, better than random) on one problem, or None without the built-in agent's runs."""
    by = {s.method: s for s in summaries}
    ref = by.get(REFERENCE_METHOD)
    if ref is None:
        return None
    peers = [by[m] for m in optuna if m in by]
    best = min(peers, key=lambda s: s.median) if peers else None
    rnd = by.get("random")
    rnd_cmp = rnd.vs_reference if rnd is not None else None
    return GoalRow(
        problem=problem,
        builtin_median=ref.median,
        best_optuna=best.method if best else "-",
        best_optuna_median=best.median if best else math.nan,
        no_worse_than_optuna=best is None or ref.median <= best.median + REGRET_TIE,
        random_p=rnd_cmp.p_value if rnd_cmp else math.nan,
        better_than_random=bool(rnd_cmp and rnd_cmp.outcome == "win"),
    )


def goal_met(rows: Sequence[GoalRow]) -> bool:
    if not rows:
        return False
    share = sum(r.no_worse_than_optuna for r in rows) / len(rows)
    return share >= GOAL_SHARE and all(r.better_than_random for r in rows)
