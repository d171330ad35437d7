"""The keep decision of the ``paired`` rule: SMAC-style intensification (racing).

A challenger is compared with the incumbent on shared seeds; each paired *gain* is
``incumbent(s) - challenger(s)`` in minimise-normal scores (positive: the challenger did
better on seed ``s``). After each pair:

- the mean gain is no better than nothing: **reject** (a challenger that looks worse is
  dropped after one draw, as SMAC's intensifier drops one that loses on the instances run);
- the mean gain beats the one-sided t margin of the paired noise for that many pairs:
  **accept** (clearly better; on the first draw only once the noise estimate rests on
  enough degrees of freedom);
- otherwise, below the cap: **race** on (re-evaluate both on a fresh seed);
- at the cap: accept, since the challenger is better on the mean of every paired draw (the
  incumbent's own luck on the first seed no longer decides alone).

Where the noise is not known yet (no repeats, no pairs) nothing is clearly better and a
challenger that looks better races: its pairs are themselves the first evidence. A
deterministic objective never races: better by any margin is better.

Pure functions of plain numbers: unit-testable without a study.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypedDict

from orchestrator.acceptance.noise import NoiseEstimate
from orchestrator.acceptance.tdist import t_quantile

# One-sided confidence that a gain is real before it is kept without more draws. 95% is
# the convention; the cap below bounds what the remaining doubt can cost.
CONFIDENCE = 0.9
# Paired evaluations of one challenger at most, its first (search) draw included. Three
# turns the incumbent's single lucky draw into a mean of three at a cost of at most two
# more trials per challenger (four when the incumbent has no draw on those seeds yet);
# SMAC's default caps at a handful of instances for the same reason.
MAX_PAIRS = 2
# Degrees of freedom the noise estimate needs before one draw may be kept without a race:
# three baseline draws (2 dof) can understate the noise several-fold by luck, and a lucky
# challenger kept on that margin is exactly the optimism racing removes. A race's own
# pairs add evidence, so this costs a few trials early in a study only.
MIN_DOF_AT_ONCE = 4
# Seeds of the re-evaluations are the study seed + 1, + 2, ...: the baseline's repeats use
# the same seeds, so a race against the baseline reuses them instead of running them again.
RACE_SEED_STEP = 1

RaceVerdict = Literal["accept", "reject", "race"]


class DecisionRecord(TypedDict):
    """A :class:`Decision` as journaled (``trial_finished.acceptance`` adds ``incumbent``)."""

    verdict: RaceVerdict
    pairs: int
    gain: float
    margin: float | None
    noise_sd: float | None
    dof: int
    reason: str


@dataclass(frozen=True)
class Decision:
    """One step of a race: the verdict and the numbers behind it."""

    verdict: RaceVerdict
    pairs: int
    gain: float  # mean paired gain, positive when the challenger is better
    margin: float | None  # what the mean gain had to beat to be clearly better
    noise_sd: float | None  # the paired noise's sd
    dof: int
    reason: str

    def as_dict(self) -> DecisionRecord:
        return DecisionRecord(
            verdict=self.verdict,
            pairs=self.pairs,
            gain=self.gain,
            margin=self.margin,
            noise_sd=self.noise_sd,
            dof=self.dof,
            reason=self.reason,
        )


def race_seed(study_seed: int, pair: int) -> int:
    """The seed of a race's ``pair``-th evaluation (pair 0 is the search's own seed)."""
    return study_seed + RACE_SEED_STEP * pair


def decide(
    gains: Sequence[float],
    noise: NoiseEstimate,
    *,
    max_pairs: int = MAX_PAIRS,
    confidence: float = CONFIDENCE,
    gain_vs_mean: float | None = None,
    incumbent_n: int = 0,
) -> Decision:
    """The verdict after the paired ``gains`` seen so far.

    ``gain_vs_mean``: the challenger's mean score against the mean of all ``incumbent_n``
    evaluations of the incumbent. Where the seeds share little (a paired difference is as
    noisy as two independent draws), that comparison is the sharper one, and it is used
    when its standard error is the smaller; it also keeps the incumbent's lucky draw on the
    search seed (the luck that may have made it the incumbent) from dropping a challenger
    that beats the incumbent's mean.
    """
    if not gains:
        raise ValueError("a decision needs at least one paired gain")
    n = len(gains)
    gain = math.fsum(gains) / n
    se = None if noise.paired_sd is None else noise.paired_sd / math.sqrt(n)
    dof = noise.dof
    how = "paired"
    obs = noise.observation_sd
    if gain_vs_mean is not None and incumbent_n > 0 and obs is not None and noise.observation_dof:
        unpaired_se = obs * math.sqrt(1 / n + 1 / incumbent_n)
        if se is None or unpaired_se < se:
            gain, se, dof, how = gain_vs_mean, unpaired_se, noise.observation_dof, "vs its mean"
    margin = None if se is None or dof <= 0 else t_quantile(confidence, dof) * se
    looks_better = gain > 0 or (gain_vs_mean is not None and gain_vs_mean > 0 and n == 1)

    def verdict(v: RaceVerdict, reason: str) -> Decision:
        return Decision(v, n, gain, margin, noise.paired_sd, noise.dof, f"{reason} ({how})")

    if noise.deterministic:
        if gain > 0:
            return verdict("accept", "deterministic objective: better by any margin")
        return verdict("reject", "deterministic objective: not better")
    if not looks_better:
        return verdict("reject", f"no better than the incumbent on {_pairs(n)}")
    trusted = n > 1 or dof >= MIN_DOF_AT_ONCE
    if margin is not None and gain > margin and trusted:
        return verdict("accept", f"better by more than the {confidence:.0%} margin on {_pairs(n)}")
    if n >= max_pairs:
        if gain > 0:
            return verdict("accept", f"better on the mean of {_pairs(n)} (cap reached)")
        return verdict("reject", f"no better than the incumbent on {_pairs(n)} (cap reached)")
    why = "no noise estimate yet" if margin is None else "within the noise margin"
    return verdict("race", f"looks better, {why}: re-evaluate on a fresh seed")


def _pairs(n: int) -> str:
    return "1 paired draw" if n == 1 else f"{n} paired draws"
