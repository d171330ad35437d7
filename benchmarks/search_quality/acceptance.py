"""The acceptance rules side by side: the built-in agent under ``strict``, the former
``baseline-floor`` (what ``noise-aware`` was) and the default ``paired`` rule, on the same
seeds and noise draws, noisy problems first; and how optimistic each rule's reported best
is (true value minus reported value, in the problem's own units and in noise sds).

The goal these tables judge: on the noisy problems the default rule reaches lower true
regret than ``strict`` at the same trial count (paired seeds, p < 0.05), and its reported
best's mean bias is within a quarter of the noise sd.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.stats import sign_flip_p_value

from .measures import ALPHA, regret_curve
from .methods import RULE_METHODS, Run
from .problems import Problem

# Column order: the rules the default is judged against, then the default itself.
RULE_COLUMNS = (
    ("builtin-strict", "strict"),
    ("builtin-floor", "baseline-floor"),
    ("builtin", "paired"),
)
# The bias goal: the reported best's mean bias within this many noise sds.
BIAS_GOAL_SDS = 0.25


@dataclass(frozen=True)
class RuleRow:
    problem: str
    noise_sd: float
    medians: dict[str, float]  # method -> median final regret
    seeds: int  # seeds every rule ran
    paired_vs_strict: float | None  # mean regret difference, paired - strict (negative: better)
    p_value: float | None


@dataclass(frozen=True)
class BiasRow:
    problem: str
    noise_sd: float
    method: str
    n: int
    mean: float  # true - reported, minimise-normal: positive = the report was optimistic
    se: float


def rule_rows(
    problems: Sequence[Problem], runs: Sequence[Run], optima: dict[str, float]
) -> list[RuleRow]:
    methods = [m for m, _ in RULE_COLUMNS]
    rows = []
    for problem in sorted(problems, key=lambda p: -float(p.objective.get("noise", 0.0))):
        final: dict[str, dict[int, float]] = {m: {} for m in methods}
        for run in runs:
            if run.problem == problem.name and run.method in final:
                final[run.method][run.seed] = regret_curve(run, problem, optima[problem.name])[-1]
        if not all(final.values()):
            continue
        seeds = sorted(set.intersection(*(set(final[m]) for m in methods)))
        diffs = [final["builtin"][s] - final["builtin-strict"][s] for s in seeds]
        rows.append(
            RuleRow(
                problem=problem.name,
                noise_sd=float(problem.objective.get("noise", 0.0)),
                medians={m: statistics.median(final[m].values()) for m in methods},
                seeds=len(seeds),
                paired_vs_strict=statistics.fmean(diffs) if diffs else None,
                p_value=sign_flip_p_value(diffs)
                if diffs and any(diffs)
                else (1.0 if diffs else None),
            )
        )
    return rows


def bias_rows(problems: Sequence[Problem], runs: Sequence[Run]) -> list[BiasRow]:
    rows = []
    for problem in sorted(problems, key=lambda p: -float(p.objective.get("noise", 0.0))):
        if problem.objective.get("kind") != "benchmark":
            continue
        for method, _rule in RULE_COLUMNS:
            bias = [
                problem.noiseless_score(r.reported_config, r.reported) - r.reported
                for r in runs
                if r.problem == problem.name and r.method == method
                if r.reported is not None and r.reported_config is not None
            ]
            if bias:
                se = statistics.stdev(bias) / math.sqrt(len(bias)) if len(bias) > 1 else math.nan
                rows.append(
                    BiasRow(
                        problem.name,
                        float(problem.objective.get("noise", 0.0)),
                        method,
                        len(bias),
                        statistics.fmean(bias),
                        se,
                    )
                )
    return rows


def _f(value: float | None, digits: int = 3) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def markdown_lines(rules: Sequence[RuleRow], bias: Sequence[BiasRow]) -> list[str]:
    if not rules and not bias:
        return []
    names = {m: rule for m, rule in RULE_COLUMNS}
    lines = [
        "## Acceptance rules (the built-in agent; noisy problems first)",
        "",
        "Median final normalised regret of the configuration each rule would report "
        "(its incumbent), on the same seeds and noise draws; `paired` is the default. "
        "Δ = mean per-seed regret of paired minus strict (negative: paired better), "
        "two-sided paired sign-flip p.",
        "",
        "| problem | noise sd | "
        + " | ".join(names[m] for m, _ in RULE_COLUMNS)
        + " | seeds | Δ paired − strict | p | paired better at p<0.05 |",
        "|---|---:|" + "---:|" * len(RULE_COLUMNS) + "---:|---:|---:|---|",
    ]
    for r in rules:
        better = r.p_value is not None and r.p_value < ALPHA and (r.paired_vs_strict or 0.0) < 0
        lines.append(
            f"| {r.problem} | {r.noise_sd:g} | "
            + " | ".join(_f(r.medians[m]) for m, _ in RULE_COLUMNS)
            + f" | {r.seeds} | {_f(r.paired_vs_strict)} | {_f(r.p_value)} | "
            + f"{'yes' if better else 'no'} |"
        )
    if bias:
        lines += [
            "",
            "## The reported best's bias (true value − reported value)",
            "",
            "Minimise-normal: positive means the study reported better than the configuration "
            "really is. strict and baseline-floor report one draw; paired reports the mean of "
            f"the best's evaluations. Goal: |mean bias| ≤ {BIAS_GOAL_SDS} noise sd.",
            "",
            "| problem | noise sd | rule | seeds | mean bias | ± se | in noise sds | within goal |",
            "|---|---:|---|---:|---:|---:|---:|---|",
        ]
        for b in bias:
            sds = b.mean / b.noise_sd if b.noise_sd else math.nan
            within = "-" if not b.noise_sd else ("yes" if abs(sds) <= BIAS_GOAL_SDS else "no")
            lines.append(
                f"| {b.problem} | {b.noise_sd:g} | {names[b.method]} | {b.n} | {_f(b.mean, 4)} | "
                f"{_f(b.se, 4)} | {_f(sds, 2)} | {within} |"
            )
    return lines


__all__ = ["RULE_METHODS", "bias_rows", "markdown_lines", "rule_rows"]
