"""The facts every proposer prompt states: budget, the objective's fixed facts, noise, steps.

A model that is not told the budget or how many tokens one optimizer step takes can only
guess at batch-size moves; one that is not told the noise level cannot tell a real gain from
a lucky seed (issue 11). These lines are objective-agnostic: the objective's own facts come
from :func:`objective_facts`, the one place that knows which objective a study runs.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from orchestrator.agent.builtin import LINEAR_STEP_FRACTION, LOG_STEP_FACTOR
from orchestrator.levels.arbiter import LEVEL1_EVERY, study_metric

if TYPE_CHECKING:
    from orchestrator.config import StudyConfig
    from orchestrator.state import StudyState

# What "step scale" means, for every prompt that shows the policy's step scale.
STEP_SCALE_MEANING = (
    f"step scale multiplies the default move size: at 1, one step is x{LOG_STEP_FACTOR:g} or /{LOG_STEP_FACTOR:g} on "
    f"log-scale params, one power of two on pow2 params and {LINEAR_STEP_FRACTION:.0%} of the range on linear "
    "params; 0.5 means half that move, 2 twice it"
)


def objective_facts(config: StudyConfig) -> dict[str, Any]:
    """What no parameter shows about the objective (sequence length, tokens per step, model
    size for GPT). The one source of these facts for prompts: objective plug-ins switch it."""
    return _with_size(dict(config.objective_facts()))


def _with_size(facts: dict[str, Any]) -> dict[str, Any]:
    """GPT facts gain the model size (the presets state depth and width, not the count)."""
    size = _gpt_parameters(facts)
    if size is not None:
        facts.setdefault("approx_parameters", size)
    return facts


def _gpt_parameters(facts: dict[str, Any]) -> int | None:
    """12·depth·d² for the blocks plus input and output embeddings (tied or not: 2·V·d)."""
    depth, dim, vocab = facts.get("depth"), facts.get("model_dim"), facts.get("vocab_size")
    if not (depth and dim and vocab):
        return None
    return int(12 * depth * dim * dim + 2 * vocab * dim)


def budget_line(config: StudyConfig) -> str:
    budget = config.budget()
    line = f"budget per trial: {budget.amount:g} {budget.mode}"
    facts = objective_facts(config)
    per_step = facts.get("tokens_per_step_default")
    if budget.mode == "tokens" and per_step:
        line += (
            f" (at the default TOTAL_BATCH_SIZE={per_step} that is "
            f"{math.floor(budget.amount / per_step)} optimizer steps; halving the batch "
            "doubles the steps)"
        )
    elif budget.mode == "seconds":
        line += " of training wall-clock (start-up and evaluation excluded)"
    return line


def noise_line(config: StudyConfig, state: StudyState | None) -> str:
    metric = study_metric(config)
    budget = config.budget()
    determinism = (
        "every search trial trains with the study seed "
        f"({config.seed}), so two trials differ only by their configuration"
    )
    if budget.mode == "seconds":
        determinism += (
            "; with a seconds budget the number of steps depends on machine speed, so a "
            "repeat of the same configuration can differ"
        )
    else:
        determinism += "; the same configuration and seed reproduce the same value exactly"
    floor = state.noise_floor if state is not None else None
    if config.acceptance.rule == "paired":
        noise = "the noise estimate and how it decides a keep are in the keep rule below"
    elif floor is not None:
        values = ", ".join(f"{v:.5f}" for v in state.noise_values) if state else ""
        noise = (
            f"measured noise floor: {floor:.5f} {metric.name} (2 x the seed-to-seed sd of "
            f"the baseline on {len(state.noise_values) if state else 0} seeds: {values}); "
            "a smaller difference may be seed luck"
        )
    else:
        noise = (
            "seed-to-seed noise was not measured in this study (acceptance rule strict): "
            "treat differences in the 4th decimal as possibly noise"
        )
    return f"{determinism}. {noise}"


def study_facts(config: StudyConfig, state: StudyState | None = None) -> list[str]:
    """The fact lines of a Level-1 (or Level-1.5) prompt, objective-agnostic."""
    from orchestrator.acceptance.judge import keep_rule_text  # judge reads the study state

    metric = study_metric(config)
    lines = [
        f"objective: {metric.verb} {metric.name} ({metric.word})",
        budget_line(config),
    ]
    facts = objective_facts(config)
    if facts:
        lines.append("fixed facts: " + ", ".join(f"{k}={v}" for k, v in facts.items()))
    lines.append(noise_line(config, state))
    lines.append(keep_rule_text(config, state))  # the rule and its numbers, as decided now
    lines.append(STEP_SCALE_MEANING)
    lines.append(
        "your proposals compete with those of search mechanisms (Level 2) for each trial; "
        f"yours run in at least one trial of every {LEVEL1_EVERY}, and more when they earn it"
    )
    return lines
