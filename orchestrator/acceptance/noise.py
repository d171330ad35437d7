"""The noise model: how much two evaluations differ by luck, learned from every repeat.

A keep decision compares a challenger with the incumbent *on the same seed* (search trials
share the study seed: common random numbers), so the noise it needs is that of a paired
difference ``a(s) - b(s)``, not the seed-to-seed spread of one configuration. Two kinds of
evidence estimate it, both pooled over the whole study and updated with every trial:

- **paired**: two configurations evaluated on the same two or more seeds (a race between a
  challenger and the incumbent, the best and the baseline re-run on the final seeds). The
  differences' spread around their mean is the paired noise itself.
- **repeats**: one configuration on several seeds (the baseline's repeats, re-evaluations).
  When the seeds share nothing, a paired difference has twice a single evaluation's
  variance; when they share something (the same data order, the same initialisation) it
  has less. ``2 x`` the pooled repeat variance is therefore a safe stand-in until enough
  paired evidence exists.

Pooling sums squared deviations over groups and divides by the summed degrees of freedom,
so every repeat counts and the estimate carries its own uncertainty (the degrees of
freedom, turned into a margin by a t quantile). One wild draw among three cannot be told
from noise, but once other groups exist it can: an observation whose leave-one-out
studentised residual is beyond a Bonferroni-corrected t quantile is left out and named.
Where noise varies across the space, the groups that involve the incumbent are weighed
with the study-wide estimate as a prior worth a few degrees of freedom.

Pure functions of plain data: unit-testable without a study.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from orchestrator.acceptance.tdist import incomplete_beta, t_quantile

# Family-wise chance of wrongly calling an ordinary draw an outlier, over all observations
# (Bonferroni): 1% keeps honest noise in the estimate while a 6-sigma draw such as the
# 4.183 among baseline values with a 0.005 spread is caught once other groups exist.
OUTLIER_ALPHA = 0.01
# Never leave out more than this share of the observations: beyond it the noise is not a
# few outliers but heavy-tailed, and the estimate must say so.
MAX_OUTLIER_SHARE = 0.2
# Paired degrees of freedom from which the paired evidence alone estimates the paired
# noise; below it the repeats' 2 x variance is pooled in (two paired differences are too
# few to trust by themselves).
MIN_PAIRED_DOF = 2
# Weight, in degrees of freedom, of the study-wide estimate when the incumbent's own
# groups estimate its local noise: enough to stop two local repeats from ruling, few
# enough that a clearly different local noise level shows within a handful of repeats.
GLOBAL_PRIOR_DOF = 4
# Two-sided level of the F test that decides the incumbent's noise differs from the rest
# of the study's: only then are its own repeats weighed above the pooled estimate (pooling
# everything is the better estimate when the noise is one level everywhere).
VARIES_ALPHA = 0.05
# Relative spread below which repeats count as identical (float round-off, not noise).
DETERMINISTIC_RTOL = 1e-12


@dataclass(frozen=True)
class Evaluation:
    """One finished evaluation: which configuration (a canonical key), on which seed, and
    its score (the metric made minimise-normal: lower is better)."""

    config: str
    seed: int
    score: float


@dataclass(frozen=True)
class Pooled:
    """A pooled variance: the summed squared deviations and their degrees of freedom."""

    ss: float = 0.0
    dof: int = 0
    dropped: tuple[float, ...] = ()

    @property
    def variance(self) -> float | None:
        return self.ss / self.dof if self.dof > 0 else None


@dataclass(frozen=True)
class NoiseEstimate:
    """The noise of a paired difference, with its degrees of freedom, and of one evaluation."""

    paired_sd: float | None  # sd of a(s) - b(s) for two configs on one seed; None: unknown
    dof: int  # degrees of freedom behind paired_sd (0: no evidence yet)
    observation_sd: float | None  # sd of one evaluation over seeds (the repeats' evidence)
    observation_dof: int
    paired_dof: int  # of dof, how many came from paired differences
    deterministic: bool = False
    dropped: tuple[float, ...] = field(default=())  # left out as outliers
    how: str = ""  # one line: where the estimate came from

    def margin(self, confidence: float, pairs: int = 1) -> float | None:
        """The one-sided ``confidence`` margin a mean of ``pairs`` paired gains must beat."""
        if self.deterministic:
            return 0.0
        if self.paired_sd is None or self.dof <= 0:
            return None
        return t_quantile(confidence, self.dof) * self.paired_sd / math.sqrt(pairs)


def _deviations(values: Sequence[float]) -> float:
    mean = math.fsum(values) / len(values)
    return math.fsum((v - mean) ** 2 for v in values)


def pool(groups: Iterable[Sequence[float]], *, alpha: float = OUTLIER_ALPHA) -> Pooled:
    """Pooled variance of ``groups`` (each a sample of one quantity), leaving out the
    observations that the rest of the evidence calls outliers (see the module doc)."""
    work = [list(g) for g in groups if len(g) >= 2]
    dropped: list[float] = []
    total = sum(len(g) for g in work)
    while True:
        ss = [_deviations(g) for g in work]
        dof = sum(len(g) - 1 for g in work)
        if dof < 3 or len(dropped) + 1 > MAX_OUTLIER_SHARE * total:
            break
        worst: tuple[float, int, int] | None = None
        for gi, group in enumerate(work):
            n = len(group)
            for oi, value in enumerate(group):
                rest = group[:oi] + group[oi + 1 :]
                rest_ss = math.fsum(ss) - ss[gi] + (_deviations(rest) if len(rest) >= 2 else 0.0)
                rest_var = rest_ss / (dof - 1)
                if rest_var <= 0:
                    continue
                mean_rest = math.fsum(rest) / (n - 1)
                z = abs(value - mean_rest) / math.sqrt(rest_var * (1 + 1 / (n - 1)))
                if worst is None or z > worst[0]:
                    worst = (z, gi, oi)
        limit = t_quantile(1 - alpha / (2 * total), dof - 1)
        if worst is None or worst[0] <= limit or _loud_group(work, ss, worst[1], worst[2]):
            break
        _, gi, oi = worst
        dropped.append(work[gi].pop(oi))
        work = [g for g in work if len(g) >= 2]
    return Pooled(
        ss=math.fsum(_deviations(g) for g in work),
        dof=sum(len(g) - 1 for g in work),
        dropped=tuple(dropped),
    )


def _loud_group(work: list[list[float]], ss: list[float], gi: int, oi: int) -> bool:
    """Whether group ``gi`` is wide even without its candidate outlier: then its spread is
    that configuration's own noise (noise varies across the space), not one wild draw."""
    rest = work[gi][:oi] + work[gi][oi + 1 :]
    other_dof = sum(len(g) - 1 for i, g in enumerate(work) if i != gi)
    if len(rest) < 2 or other_dof == 0:
        return False
    other = (math.fsum(ss) - ss[gi]) / other_dof
    mine = _deviations(rest) / (len(rest) - 1)
    return mine > other and varies(mine, len(rest) - 1, other, other_dof)


def by_config(evaluations: Iterable[Evaluation]) -> dict[str, dict[int, float]]:
    """``{config: {seed: score}}``; two evaluations of one config on one seed are averaged
    (a rerun of a seeded trial measures the machine, not the seed)."""
    sums: dict[str, dict[int, list[float]]] = {}
    for e in evaluations:
        sums.setdefault(e.config, {}).setdefault(e.seed, []).append(e.score)
    return {c: {s: math.fsum(v) / len(v) for s, v in seeds.items()} for c, seeds in sums.items()}


def repeat_groups(table: dict[str, dict[int, float]]) -> dict[str, list[float]]:
    """Each configuration's scores over its seeds, where it has two or more."""
    return {c: [seeds[s] for s in sorted(seeds)] for c, seeds in table.items() if len(seeds) >= 2}


def paired_groups(table: dict[str, dict[int, float]]) -> dict[tuple[str, str], list[float]]:
    """``a(s) - b(s)`` over the seeds two configurations share, where they share two or more."""
    multi = sorted(c for c, seeds in table.items() if len(seeds) >= 2)
    out: dict[tuple[str, str], list[float]] = {}
    for a, b in itertools.combinations(multi, 2):
        shared = sorted(set(table[a]) & set(table[b]))
        if len(shared) >= 2:
            out[(a, b)] = [table[a][s] - table[b][s] for s in shared]
    return out


def _paired_variance(repeats: Pooled, paired: Pooled) -> tuple[float | None, int]:
    if paired.dof >= MIN_PAIRED_DOF:
        return paired.variance, paired.dof
    dof = paired.dof + repeats.dof
    if dof == 0:
        return None, 0
    return (paired.ss + 2 * repeats.ss) / dof, dof


def f_test_p(var_a: float, dof_a: int, var_b: float, dof_b: int) -> float:
    """Two-sided p-value of the F test that two variance estimates share one variance."""
    if var_b <= 0 or var_a <= 0:
        return 0.0 if var_a != var_b else 1.0
    ratio = var_a / var_b
    cdf = incomplete_beta(dof_a / 2, dof_b / 2, dof_a * ratio / (dof_a * ratio + dof_b))
    return min(1.0, 2 * min(cdf, 1 - cdf))


def varies(var_a: float, dof_a: int, var_b: float, dof_b: int) -> bool:
    """Whether estimate a's variance differs from b's at :data:`VARIES_ALPHA`."""
    return f_test_p(var_a, dof_a, var_b, dof_b) < VARIES_ALPHA


def _identical(groups: Iterable[Sequence[float]]) -> bool:
    return all(
        max(g) - min(g) <= DETERMINISTIC_RTOL * max(1.0, max(abs(v) for v in g)) for g in groups
    )


def estimate(
    evaluations: Iterable[Evaluation], *, focus: str | None = None, deterministic: bool = False
) -> NoiseEstimate:
    """The paired noise from every evaluation; ``focus`` (the incumbent's config key) weighs
    that configuration's own repeats and pairs; ``deterministic`` (declared by the
    objective) skips the estimate: a difference of any size is real."""
    if deterministic:
        return NoiseEstimate(0.0, 0, 0.0, 0, 0, deterministic=True, how="declared deterministic")
    table = by_config(evaluations)
    reps, pairs = repeat_groups(table), paired_groups(table)
    if (reps or pairs) and _identical([*reps.values(), *pairs.values()]):
        n = sum(len(g) for g in reps.values())
        return NoiseEstimate(
            0.0, 0, 0.0, 0, 0, deterministic=True, how=f"{n} repeats identical: deterministic"
        )
    rep_all, pair_all = pool(reps.values()), pool(pairs.values())
    variance, dof = _paired_variance(rep_all, pair_all)
    how = f"pooled over {len(reps)} repeated configs and {len(pairs)} paired comparisons"
    if focus is not None and variance is not None:
        local_rep = pool(g for c, g in reps.items() if c == focus)
        local_pair = pool(g for k, g in pairs.items() if focus in k)
        local, local_dof = _paired_variance(local_rep, local_pair)
        other_rep = pool(g for c, g in reps.items() if c != focus)
        other_pair = pool(g for k, g in pairs.items() if focus not in k)
        other, other_dof = _paired_variance(other_rep, other_pair)
        if local is not None and other is not None and varies(local, local_dof, other, other_dof):
            prior = min(other_dof, GLOBAL_PRIOR_DOF)
            variance = (local * local_dof + other * prior) / (local_dof + prior)
            dof = local_dof + prior
            how += f"; the incumbent's own {local_dof} dof weighed against {prior} from the rest"
    obs = rep_all.variance
    return NoiseEstimate(
        paired_sd=None if variance is None else math.sqrt(variance),
        dof=dof,
        observation_sd=None if obs is None else math.sqrt(obs),
        observation_dof=rep_all.dof,
        paired_dof=pair_all.dof,
        dropped=rep_all.dropped + pair_all.dropped,
        how=how,
    )
