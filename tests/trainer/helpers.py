"""Builders shared by the trainer tests."""

from __future__ import annotations

from typing import Any

from trainer.presets import PRESETS
from trainer.spec import Budget, TrialSpec

# A budget that trains for real yet keeps each trial around a second on a loaded 2-core box.
SMALL_TOKEN_BUDGET = 16_384
# A total batch of 2048 tokens (one micro-batch) gives many optimizer steps per second.
FAST_BATCH = {"TOTAL_BATCH_SIZE": 2048}


def make_spec(
    trial_id: str,
    *,
    changes: dict[str, Any] | None = None,
    budget: Budget | None = None,
    dataset: str = "stdlib",
    seed: int = 0,
) -> TrialSpec:
    """A cpu-tiny TrialSpec with the preset defaults plus ``changes``."""
    space = PRESETS["cpu-tiny"].space
    config = space.apply(space.defaults(), {**FAST_BATCH, **(changes or {})})
    return TrialSpec(
        trial_id=trial_id,
        index=0,
        preset="cpu-tiny",
        dataset=dataset,
        budget=budget or Budget(mode="tokens", amount=SMALL_TOKEN_BUDGET),
        config=config,
        seed=seed,
    )
