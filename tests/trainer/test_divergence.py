"""The divergence rule: NaN at once; worse-than-guessing only when it persists."""

from __future__ import annotations

import math

import pytest

from trainer.train import DIVERGENCE_GRACE_STEPS, Diverged, DivergenceGuard

UNIFORM = math.log(256)  # the loss of a uniform guess over bytes


def test_a_non_finite_loss_diverges_at_the_first_step() -> None:
    with pytest.raises(Diverged, match="loss is nan at step 1"):
        DivergenceGuard(256).update(float("nan"), 1)
    with pytest.raises(Diverged, match="loss is inf"):
        DivergenceGuard(256).update(float("inf"), 3)


def test_a_loss_stuck_above_guessing_diverges_after_the_grace_steps() -> None:
    guard = DivergenceGuard(256)
    for step in range(1, DIVERGENCE_GRACE_STEPS):
        guard.update(2 * UNIFORM, step)  # tolerated: still in the grace period
    with pytest.raises(Diverged, match=f"at step {DIVERGENCE_GRACE_STEPS} is worse than guessing"):
        guard.update(2 * UNIFORM, DIVERGENCE_GRACE_STEPS)


def test_one_spike_in_a_healthy_run_is_not_divergence() -> None:
    guard = DivergenceGuard(256)
    for step in range(1, 20):
        guard.update(2 * UNIFORM if step == 12 else 0.6 * UNIFORM, step)
