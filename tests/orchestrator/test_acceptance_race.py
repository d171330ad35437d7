"""The paired rule's sequential decision (orchestrator/acceptance/race.py): right verdicts
on constructed races, and the rates a user relies on over many simulated ones."""

from __future__ import annotations

import dataclasses
import random
from typing import get_type_hints

import pytest

from orchestrator.acceptance.judge import BestEstimate, BestEstimateRecord
from orchestrator.acceptance.noise import NoiseEstimate
from orchestrator.acceptance.race import Decision, DecisionRecord, decide

NOISE = NoiseEstimate(paired_sd=1.0, dof=10, observation_sd=0.7, observation_dof=10, paired_dof=0)
UNKNOWN = NoiseEstimate(None, 0, None, 0, 0)
DETERMINISTIC = NoiseEstimate(0.0, 0, 0.0, 0, 0, deterministic=True)


def test_a_worse_challenger_is_dropped_after_one_draw() -> None:
    assert decide([-0.3], NOISE).verdict == "reject"
    assert decide([-0.3], UNKNOWN).verdict == "reject"


def test_a_clearly_better_challenger_is_kept_at_once() -> None:
    decision = decide([2.5], NOISE, confidence=0.95)  # t(0.95, 10) = 1.81 paired sds
    assert decision.verdict == "accept" and decision.margin == pytest.approx(1.8125, abs=1e-3)
    few = NoiseEstimate(1.0, 2, 0.7, 2, 0)  # 2 dof: three draws may understate the noise
    assert decide([5.0], few).verdict == "race"


def test_an_unclear_challenger_races_then_the_mean_decides() -> None:
    three = {"max_pairs": 3, "confidence": 0.95}
    assert decide([0.5], NOISE).verdict == "race"
    assert decide([0.5], UNKNOWN).verdict == "race"  # no estimate: its pairs are the evidence
    # the incumbent's seed-0 draw was lucky: beating its mean is reason enough to race
    assert decide([-0.1], NOISE, gain_vs_mean=0.4).verdict == "race"
    # independent seeds: the incumbent's mean of 8 is the sharper yardstick, and it decides
    sharp = decide([0.1], NOISE, gain_vs_mean=1.6, incumbent_n=8)
    assert sharp.verdict == "accept" and "vs its mean" in sharp.reason
    assert decide([0.5, -0.9], NOISE, **three).verdict == "reject"  # the fresh seed undid it
    assert decide([0.5, 0.4], NOISE, **three).verdict == "race"
    assert (
        decide([0.5, 0.4, 0.3], NOISE, **three).verdict == "accept"
    )  # the cap: better on the mean
    assert decide([0.5, 0.4, -1.2], NOISE, **three).verdict == "reject"
    assert decide([1.6, 1.7], NOISE, **three).verdict == "accept"  # 1.65 > 1.81 / sqrt(2)


def test_deterministic_objectives_never_race() -> None:
    assert decide([1e-9], DETERMINISTIC).verdict == "accept"
    assert decide([0.0], DETERMINISTIC).verdict == "reject"


def simulate(true_gain: float, races: int = 4000, seed: int = 11) -> tuple[float, float]:
    """(share accepted, mean pairs used) over simulated races with unit paired noise."""
    rng = random.Random(seed)
    accepted = pairs = 0
    for _ in range(races):
        gains = [true_gain + rng.gauss(0, 1)]
        while (d := decide(gains, NOISE, max_pairs=3, confidence=0.95)).verdict == "race":
            gains.append(true_gain + rng.gauss(0, 1))
        accepted += d.verdict == "accept"
        pairs += d.pairs
    return accepted / races, pairs / races


def test_racing_keeps_better_challengers_and_drops_worse_ones() -> None:
    """Fails on the wrong decision: a challenger one noise sd worse is kept far less often
    than a single draw would keep it (16%), one sd better far more often than it is dropped,
    and the cost stays within the cap."""
    worse, worse_pairs = simulate(-1.0)
    better, better_pairs = simulate(+1.0)
    much_worse, _ = simulate(-2.0)
    assert worse < 0.10
    assert better > 0.80
    assert much_worse < 0.03
    assert 1 <= worse_pairs < 1.5  # clearly worse: dropped after one draw, mostly
    assert better_pairs <= 3


@pytest.mark.parametrize(
    ("value", "record"),
    [
        (Decision("race", 1, 0.5, 1.2, 1.0, 10, "within the noise margin"), DecisionRecord),
        (BestEstimate(3, 4.1, 2, 4.0, 4.2, 4.05, 5, True), BestEstimateRecord),
    ],
)
def test_the_journaled_record_holds_every_field(
    value: Decision | BestEstimate, record: type
) -> None:
    # as_dict spells the fields out for its typed record: a field added to the dataclass
    # must reach the journal too, in the same order.
    journaled = value.as_dict()
    assert journaled == dataclasses.asdict(value)
    assert list(journaled) == [f.name for f in dataclasses.fields(value)]
    assert list(get_type_hints(record)) == list(journaled)
