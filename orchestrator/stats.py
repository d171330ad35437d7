"""Statistics for ablations: effect sizes, bootstrap intervals and exact permutation tests.

The quantity compared across groups is Δ = best − baseline of one study, in the study's
metric (Δval_bpb for GPT: negative is an improvement, as in the paper's table; for a
maximised metric positive is). Every test here is two-sided and every interval symmetric in
sign, so the statistics hold in either direction; only the reading of the sign changes. Every random choice here uses a fixed seed, so the
same journals always give the same table.

Tests against group A are *paired* when both groups have the same repeat indices (the
ablation runs repeat k of every group with the same seed): then the test is the exact
sign-flip permutation test on the per-repeat differences. Otherwise it is the two-sample
permutation test on the difference of means. Both enumerate every arrangement when that is
cheap and fall back to a seeded Monte Carlo estimate when it is not.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# 95% is the convention readers expect beside a p-value; the paper reports no interval.
CONFIDENCE = 0.95
# 10k resamples keep the Monte Carlo error of a 2.5% percentile near ±0.3 percentage points.
BOOTSTRAP_RESAMPLES = 10_000
# Fixed so that a report re-derived from the same journals prints the same intervals.
SEED = 20260126
# 2**16 sign patterns enumerate in milliseconds; beyond that, sample.
EXACT_SIGN_FLIP_MAX_N = 16
# C(24, 12) ≈ 2.7M splits is still quick; beyond that, sample.
EXACT_TWO_SAMPLE_MAX_SPLITS = 3_000_000
# Monte Carlo permutations when exact enumeration is too large (p-value error ≈ ±0.002).
PERMUTATIONS = 50_000
# Differences in the 12th decimal are float noise, not a more extreme statistic.
TIE_TOLERANCE = 1e-12
REFERENCE_GROUP = "A"


@dataclass(frozen=True)
class PaperRow:
    group: str
    levels: str
    mean_delta: float


# Qu & Lu (2026), "Bilevel Autoresearch: Meta-Autoresearching Itself", main results table:
# mean Δval_bpb over 3 repeats × 30 iterations, 300 s budget per trial, one RTX 5090,
# DeepSeek as the LLM. The paper reports means only (no spread), so only those are here.
PAPER_TABLE: tuple[PaperRow, ...] = (
    PaperRow(group="A", levels="L1", mean_delta=-0.009),
    PaperRow(group="C", levels="L1 + L1.5 + L2", mean_delta=-0.045),
)
PAPER_SETUP = "3 repeats × 30 iterations, 300 s per trial, RTX 5090 (Qu & Lu, 2026)"


@dataclass(frozen=True)
class GroupStats:
    """One row of the ablation table."""

    group: str
    n: int
    mean: float
    sd: float  # sample standard deviation (ddof=1); nan for n < 2
    ci_low: float
    ci_high: float
    ratio_to_reference: float | None  # mean / mean of group A; None when undefined
    p_vs_reference: float | None  # two-sided; None for A itself or when not computable
    paired: bool  # whether p_vs_reference came from the paired test


def bootstrap_ci(
    values: Sequence[float],
    *,
    confidence: float = CONFIDENCE,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = SEED,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean. A single value gives a zero-width interval."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return (math.nan, math.nan)
    if data.size == 1:
        return (float(data[0]), float(data[0]))
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, data.size, size=(resamples, data.size))
    means = data[picks].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return (float(low), float(high))


def sign_flip_p_value(
    differences: Sequence[float], *, permutations: int = PERMUTATIONS, seed: int = SEED
) -> float:
    """Two-sided paired permutation test of mean(differences) == 0.

    Under the null each paired difference is as likely to have either sign, so the p-value is
    the share of the 2**n sign patterns whose |mean| is at least the observed one. Exact for
    n <= EXACT_SIGN_FLIP_MAX_N; seeded Monte Carlo (observed pattern counted) above.
    """
    d = np.asarray(differences, dtype=float)
    if d.size == 0:
        return math.nan
    observed = abs(d.sum())
    if d.size <= EXACT_SIGN_FLIP_MAX_N:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=d.size)))
        sums = np.abs(signs @ d)
        return float(np.mean(sums >= observed - TIE_TOLERANCE))
    rng = np.random.default_rng(seed)
    signs = rng.choice((1.0, -1.0), size=(permutations, d.size))
    hits = np.sum(np.abs(signs @ d) >= observed - TIE_TOLERANCE)
    return float((hits + 1) / (permutations + 1))


def two_sample_p_value(
    first: Sequence[float],
    second: Sequence[float],
    *,
    permutations: int = PERMUTATIONS,
    seed: int = SEED,
) -> float:
    """Two-sided permutation test of mean(first) == mean(second) for unpaired samples."""
    a = np.asarray(first, dtype=float)
    b = np.asarray(second, dtype=float)
    if a.size == 0 or b.size == 0:
        return math.nan
    pooled = np.concatenate([a, b])
    total = float(pooled.sum())  # numpy's stubs leave sum() untyped: the same value, typed
    observed = abs(a.mean() - b.mean())

    def gap(first_sum: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.abs(first_sum / a.size - (total - first_sum) / b.size)

    if math.comb(pooled.size, a.size) <= EXACT_TWO_SAMPLE_MAX_SPLITS:
        sums = np.array(
            [pooled[list(idx)].sum() for idx in itertools.combinations(range(pooled.size), a.size)]
        )
        return float(np.mean(gap(sums) >= observed - TIE_TOLERANCE))
    rng = np.random.default_rng(seed)
    sums = np.array([rng.permutation(pooled)[: a.size].sum() for _ in range(permutations)])
    hits = np.sum(gap(sums) >= observed - TIE_TOLERANCE)
    return float((hits + 1) / (permutations + 1))


def summarize_groups(
    deltas: Mapping[str, Mapping[int, float]], *, reference: str = REFERENCE_GROUP
) -> list[GroupStats]:
    """One table row per group from ``{group: {repeat: Δval_bpb}}``, in the given order.

    Repeats present in both a group and the reference are compared paired; when a group
    shares at least two repeats with the reference the paired sign-flip test is used,
    otherwise the unpaired two-sample test on all values.
    """
    ref = deltas.get(reference, {})
    ref_mean = float(np.mean(list(ref.values()))) if ref else math.nan
    rows: list[GroupStats] = []
    for group, by_repeat in deltas.items():
        values = [by_repeat[k] for k in sorted(by_repeat)]
        n = len(values)
        mean = float(np.mean(values)) if values else math.nan
        sd = float(np.std(values, ddof=1)) if n >= 2 else math.nan
        low, high = bootstrap_ci(values)
        ratio = mean / ref_mean if ref and ref_mean != 0 and n else None
        p: float | None = None
        paired = False
        if group != reference and ref and values:
            shared = sorted(set(by_repeat) & set(ref))
            if len(shared) >= 2:
                paired = True
                p = sign_flip_p_value([by_repeat[k] - ref[k] for k in shared])
            else:
                p = two_sample_p_value(values, list(ref.values()))
        rows.append(
            GroupStats(
                group=group,
                n=n,
                mean=mean,
                sd=sd,
                ci_low=low,
                ci_high=high,
                ratio_to_reference=ratio,
                p_vs_reference=p,
                paired=paired,
            )
        )
    return rows


def paper_row(group: str, metric: str = "val_bpb") -> PaperRow | None:
    """The paper's figure for a group, or None where the paper has none. The paper measured
    GPT pretraining's val_bpb: any other metric has no paper figure to sit beside."""
    if metric != "val_bpb":
        return None
    return next((row for row in PAPER_TABLE if row.group == group), None)
