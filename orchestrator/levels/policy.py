"""The search policy Level 1.5 edits, and the limits every edit is held to.

A policy is data, not code: which params Level 1 may change, whether it should explore or
exploit, how far it should step, and free-text guidance. Level 1.5 proposes a new policy
every k trials; :func:`constrain_policy` applies the limits and :func:`policy_diff` is what
the journal records (``policy_changed.diff``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from contract.hooks import Context
from contract.limits import MAX_HINT_CHARS
from contract.space import SearchSpace

# Level 1 keeps at least this many tunable params in a large space: freezing everything
# would end the search without anyone deciding to end it. A small space scales it down
# (:func:`min_tunable`), or a 3-param space could never freeze anything.
MIN_TUNABLE = 3
# Freeze/unfreeze operations one Level-1.5 step may make; bigger swings lose the history's
# meaning from one window to the next.
MAX_FREEZE_CHANGES_PER_STEP = 3
# Step scale multiplies the agent's default move size; outside this range moves are either
# noise-sized or jump across the whole range.
STEP_SCALE_RANGE = (0.25, 4.0)
# Guidance text longer than this is cut: it is a hint for a prompt, not a document, held
# to the same length as a mechanism's hint (one set of text limits, contract/limits.py).
MAX_GUIDANCE_CHARS = MAX_HINT_CHARS


def min_tunable(tunable_in_space: int) -> int:
    """Params that must stay tunable: MIN_TUNABLE, but at most half the space's tunable
    params (at least one), so that a small space can still narrow its search."""
    return max(1, min(MIN_TUNABLE, tunable_in_space // 2))


class SearchPolicy(BaseModel):
    """What Level 1 is told to do. ``frozen`` lists params frozen by policy, on top of the
    space's own frozen params (which policy can never unfreeze)."""

    model_config = ConfigDict(extra="forbid")

    frozen: list[str] = Field(default_factory=list)
    mode: Literal["explore", "exploit"] = "explore"
    step_scale: float = 1.0
    guidance: str = ""
    focus: list[str] = Field(default_factory=list)
    # When the guidance was written: the trial about to be planned, and the incumbent then
    # (index and value), so a prompt can show guidance the search has moved past as stale.
    written_at: int | None = None
    incumbent_at_writing: int | None = None
    incumbent_value_at_writing: float | None = None

    def effective_space(self, space: SearchSpace) -> SearchSpace:
        """The space with policy-frozen params marked frozen."""
        updates = {name: {"frozen": True} for name in self.frozen if name in space.names()}
        return space.override(updates) if updates else space


def constrain_policy(
    proposed: SearchPolicy, current: SearchPolicy, space: SearchSpace
) -> tuple[SearchPolicy, list[str]]:
    """The proposal with the limits applied, and a note for every limit that bit.

    Limits are applied by dropping the offending part of the edit (never by inventing
    values): unknown names are dropped, at most MAX_FREEZE_CHANGES_PER_STEP freeze changes
    are taken in the order given, and freezing stops at MIN_TUNABLE tunable params.
    """
    notes: list[str] = []
    tunable_in_space = [p.name for p in space.tunable()]
    wanted = [n for n in dict.fromkeys(proposed.frozen) if n in tunable_in_space]
    dropped = [n for n in proposed.frozen if n not in tunable_in_space]
    if dropped:
        notes.append(f"ignored freeze of unknown or space-frozen params: {dropped}")
    frozen = [n for n in current.frozen if n in wanted]  # keep order stable
    changes = 0
    for name in current.frozen:
        if name not in wanted:
            changes += 1  # unfreeze
    frozen_now = list(frozen)
    for name in wanted:
        if name in frozen_now:
            continue
        if changes >= MAX_FREEZE_CHANGES_PER_STEP:
            notes.append(
                f"freeze of {name} skipped: at most {MAX_FREEZE_CHANGES_PER_STEP} per step"
            )
            continue
        keep = min_tunable(len(tunable_in_space))
        if len(tunable_in_space) - len(frozen_now) - 1 < keep:
            notes.append(f"freeze of {name} skipped: at least {keep} params stay tunable")
            continue
        frozen_now.append(name)
        changes += 1
    if changes > MAX_FREEZE_CHANGES_PER_STEP:  # too many unfreezes: keep the first ones
        unfreezes = [n for n in current.frozen if n not in wanted]
        keep_frozen = unfreezes[MAX_FREEZE_CHANGES_PER_STEP:]
        frozen_now = keep_frozen + frozen_now
        notes.append(
            f"unfreeze of {keep_frozen} deferred: at most {MAX_FREEZE_CHANGES_PER_STEP} per step"
        )
    low, high = STEP_SCALE_RANGE
    step = proposed.step_scale
    if not low <= step <= high:
        notes.append(f"step_scale {step} is outside [{low}, {high}]; kept {current.step_scale}")
        step = current.step_scale
    focus = [n for n in proposed.focus if n in tunable_in_space and n not in frozen_now]
    return (
        SearchPolicy(
            frozen=frozen_now,
            mode=proposed.mode,
            step_scale=step,
            guidance=proposed.guidance[:MAX_GUIDANCE_CHARS],
            focus=focus,
            written_at=proposed.written_at,
            incumbent_at_writing=proposed.incumbent_at_writing,
            incumbent_value_at_writing=proposed.incumbent_value_at_writing,
        ),
        notes,
    )


def guidance_stamp(policy: SearchPolicy, ctx: Context, metric_name: str) -> str:
    """`` (written before trial #12, when the incumbent was #7 val_bpb=3.49012; it is now
    #15 ...)``: when the guidance was written and whether the incumbent has moved since."""
    if policy.written_at is None:
        return ""
    then = _incumbent(policy.incumbent_at_writing, policy.incumbent_value_at_writing, metric_name)
    best = ctx.best
    now_index = best.index if best else None
    now_value = best.value if best else None
    stamp = f" (written before trial #{policy.written_at}, when the incumbent was {then}"
    if now_index == policy.incumbent_at_writing:
        return stamp + "; it still is)"
    return stamp + f"; the incumbent is now {_incumbent(now_index, now_value, metric_name)})"


def _incumbent(index: int | None, value: float | None, metric_name: str) -> str:
    if index is None:
        return "none (no trial had finished)"
    return f"#{index}" + (f" {metric_name}={value:.5f}" if value is not None else "")


def policy_diff(old: SearchPolicy, new: SearchPolicy) -> dict[str, list[object]]:
    """``param -> [old_frozen, new_frozen]`` for freeze changes, ``field -> [old, new]``."""
    diff: dict[str, list[object]] = {}
    for name in sorted(set(old.frozen) | set(new.frozen)):
        was, now = name in old.frozen, name in new.frozen
        if was != now:
            diff[name] = ["frozen" if was else "tunable", "frozen" if now else "tunable"]
    fields: tuple[tuple[str, object, object], ...] = (
        ("mode", old.mode, new.mode),
        ("step_scale", old.step_scale, new.step_scale),
        ("guidance", old.guidance, new.guidance),
        ("focus", old.focus, new.focus),
    )
    for field, before, after in fields:
        if before != after:
            diff[field] = [before, after]
    return diff
