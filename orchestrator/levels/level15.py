"""Level 1.5: every k finished trials, diagnose the search and edit the search policy.

The agent sees the same history as Level 1 plus the current policy and replies with a
diagnosis and a new policy. The edit is held to the limits of
:func:`orchestrator.levels.policy.constrain_policy` and journaled as a diff.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from contract.hooks import Context
from contract.space import SearchSpace
from orchestrator.agent.base import Agent
from orchestrator.levels.level1 import (
    constraints_section,
    format_history,
    format_space,
    keep_rule_section,
)
from orchestrator.levels.policy import (
    MAX_FREEZE_CHANGES_PER_STEP,
    STEP_SCALE_RANGE,
    SearchPolicy,
    constrain_policy,
    guidance_stamp,
    min_tunable,
    policy_diff,
)
from orchestrator.metric import ObjectiveText, context_metric


class PolicyReply(BaseModel):
    model_config = ConfigDict(extra="forbid")
    diagnosis: str = Field(description="what the search has learned and where it is stuck")
    frozen: list[str] = Field(description="params Level 1 must not change next")
    mode: Literal["explore", "exploit"]
    step_scale: float = Field(description="multiplier on the default move size")
    guidance: str = Field(description="one or two sentences for the Level-1 prompt")
    focus: list[str] = Field(description="params Level 1 should vary first")


SYSTEM = """You supervise a hyperparameter search that minimises val_bpb under a fixed \
training budget. Every few trials you diagnose the search and set its policy for the next \
window: which params to freeze (at most {max_changes} freeze/unfreeze changes per step; at \
least {keep} of the {tunable} tunable params stay tunable), explore or exploit, a step \
scale in [{low}, {high}] (1 = default move size), the params to focus on, and short \
guidance for the proposer. Reply with JSON only: {{"diagnosis": "...", "frozen": [...], \
"mode": "explore", "step_scale": 1.0, "guidance": "...", "focus": [...]}}"""


def system_prompt(ctx: Context, space: SearchSpace, objective: ObjectiveText) -> str:
    """SYSTEM with this space's limits, in the words of the study's own objective."""
    tunable = len(space.tunable())
    text = SYSTEM.format(
        max_changes=MAX_FREEZE_CHANGES_PER_STEP,
        keep=min_tunable(tunable),
        tunable=tunable,
        low=STEP_SCALE_RANGE[0],
        high=STEP_SCALE_RANGE[1],
    )
    metric = context_metric(ctx)
    kind = objective.kind or ("gpt" if metric.name == "val_bpb" else "function")
    if kind == "gpt" and metric.name == "val_bpb":
        return text
    what = f" of {objective.description}" if objective.description else ""
    budget = "" if kind == "benchmark" else " under a fixed budget"
    return text.replace(
        "minimises val_bpb under a fixed training budget",
        f"{metric.verb}s {metric.name} ({metric.word}){what}{budget}",
    )


def policy_text(policy: SearchPolicy, ctx: Context, metric_name: str) -> str:
    line = (
        f"frozen by policy: {policy.frozen or 'none'}; mode: {policy.mode}; step scale: "
        f"{policy.step_scale:g}; focus: {policy.focus or 'none'}"
    )
    if policy.guidance:
        line += f"\nguidance{guidance_stamp(policy, ctx, metric_name)}: {policy.guidance}"
    return line


def build_prompt(
    ctx: Context,
    policy: SearchPolicy,
    space: SearchSpace,
    facts: list[str] | None = None,
    keep_rule: str = "",
    objective: ObjectiveText | None = None,
) -> tuple[str, str, dict[str, Any]]:
    """System prompt, user prompt, and the payload the built-in agent reads (the context
    as JSON, as ``Context.to_dict`` writes it); ``objective`` is GPT's when omitted."""
    metric = context_metric(ctx)
    left = ctx.trials_left
    sections = [
        *([("## Facts\n" + "\n".join(f"- {f}" for f in facts))] if facts else []),
        keep_rule_section(keep_rule),
        constraints_section(ctx),
        f"## Search space (before policy)\n{format_space(space)}",
        f"## Current policy\n{policy_text(policy, ctx, metric.name)}",
        "## History (oldest first)\n" + format_history(ctx.history, space.defaults(), metric.name),
        f"Set the policy for trials from #{ctx.iteration} on"
        + (f" ({left} search trials are still to plan)." if isinstance(left, int) else "."),
    ]
    user = "\n\n".join(s for s in sections if s)
    payload = {"ctx": ctx.to_dict(), "policy": policy.model_dump(mode="json")}
    return system_prompt(ctx, space, objective or ObjectiveText()), user, payload


def run_level15(
    agent: Agent,
    ctx: Context,
    policy: SearchPolicy,
    space: SearchSpace,
    *,
    facts: list[str] | None = None,
    keep_rule: str = "",
    objective: ObjectiveText | None = None,
) -> tuple[SearchPolicy, str, dict[str, list[object]], list[str]]:
    """``(new_policy, diagnosis, diff, notes)``; notes say which limits trimmed the edit.
    The new guidance is stamped with the trial it was written before and the incumbent."""
    system, user, payload = build_prompt(ctx, policy, space, facts, keep_rule, objective)
    reply = agent.ask("level15", system=system, user=user, payload=payload, reply=PolicyReply)
    best = ctx.best
    proposed = SearchPolicy(
        frozen=reply.frozen,
        mode=reply.mode,
        step_scale=reply.step_scale,
        guidance=reply.guidance,
        focus=reply.focus,
        written_at=ctx.iteration,
        incumbent_at_writing=best.index if best else None,
        incumbent_value_at_writing=best.value if best else None,
    )
    new, notes = constrain_policy(proposed, policy, space)
    return new, reply.diagnosis, policy_diff(policy, new), notes
