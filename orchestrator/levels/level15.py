"""Level 1.5: every k finished trials, diagnose the search and edit the search policy.

The agent sees the same history as Level 1 plus the current policy and replies with a
diagnosis and a new policy. The edit is held to the limits of
:func:`orchestrator.levels.policy.constrain_policy` and journaled as a diff.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.agent.base import Agent
from orchestrator.levels.level1 import format_history, format_space
from orchestrator.levels.policy import (
    MAX_FREEZE_CHANGES_PER_STEP,
    MIN_TUNABLE,
    STEP_SCALE_RANGE,
    SearchPolicy,
    constrain_policy,
    policy_diff,
)
from orchestrator.metric import context_metric
from trainer.spec import SearchSpace


class PolicyReply(BaseModel):
    model_config = ConfigDict(extra="forbid")
    diagnosis: str = Field(description="what the search has learned and where it is stuck")
    frozen: list[str] = Field(description="params Level 1 must not change next")
    mode: Literal["explore", "exploit"]
    step_scale: float = Field(description="multiplier on the default move size")
    guidance: str = Field(description="one or two sentences for the Level-1 prompt")
    focus: list[str] = Field(description="params Level 1 should vary first")


SYSTEM = f"""You supervise a hyperparameter search that minimises val_bpb under a fixed \
training budget. Every few trials you diagnose the search and set its policy for the next \
window: which params to freeze (at most {MAX_FREEZE_CHANGES_PER_STEP} freeze/unfreeze \
changes per step; at least {MIN_TUNABLE} params stay tunable), explore or exploit, a step \
scale in [{STEP_SCALE_RANGE[0]}, {STEP_SCALE_RANGE[1]}] (1 = default move size), the params \
to focus on, and short guidance for the proposer. Reply with JSON only: {{"diagnosis": \
"...", "frozen": [...], "mode": "explore", "step_scale": 1.0, "guidance": "...", "focus": [...]}}"""


def build_prompt(
    ctx: dict[str, Any], policy: SearchPolicy, space: SearchSpace, facts: list[str] | None = None
) -> tuple[str, str, dict[str, Any]]:
    user = "\n\n".join(
        ([("## Facts\n" + "\n".join(f"- {f}" for f in facts))] if facts else [])
        + [
            f"## Search space (before policy)\n{format_space(space)}",
            f"## Current policy\n{policy.model_dump_json()}",
            "## History (oldest first)\n"
            + format_history(ctx["history"], space.defaults(), context_metric(ctx).name),
            f"Set the policy for trials from #{ctx['iteration']} on.",
        ]
    )
    payload = {"ctx": ctx, "policy": policy.model_dump(mode="json")}
    metric = context_metric(ctx)
    if metric.name == "val_bpb":
        return SYSTEM, user, payload
    objective = f" of {ctx['objective']}" if ctx.get("objective") else ""
    system = SYSTEM.replace(
        "minimises val_bpb under a fixed \
training budget",
        f"{metric.verb}s {metric.name} ({metric.word}){objective} under a fixed budget",
    )
    return system, user, payload


def run_level15(
    agent: Agent,
    ctx: dict[str, Any],
    policy: SearchPolicy,
    space: SearchSpace,
    *,
    facts: list[str] | None = None,
) -> tuple[SearchPolicy, str, dict[str, list[Any]], list[str]]:
    """``(new_policy, diagnosis, diff, notes)``; notes say which limits trimmed the edit."""
    system, user, payload = build_prompt(ctx, policy, space, facts)
    reply = agent.ask("level15", system=system, user=user, payload=payload, reply=PolicyReply)
    proposed = SearchPolicy(
        frozen=reply.frozen,
        mode=reply.mode,
        step_scale=reply.step_scale,
        guidance=reply.guidance,
        focus=reply.focus,
    )
    new, notes = constrain_policy(proposed, policy, space)
    return new, reply.diagnosis, policy_diff(policy, new), notes
