"""The facts every proposer prompt states: length, budget, the objective's facts, noise, steps.

A model that is not told the budget or how many tokens one optimizer step takes can only
guess at batch-size moves; one that is not told the noise level cannot tell a real gain from
a lucky seed. Every line is true of the study's own objective kind, budget mode and space;
the objective's own facts come from :func:`objective_facts`, the one place that knows which
objective a study runs.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from contract.space import SearchSpace
from orchestrator.agent.builtin import LINEAR_STEP_FRACTION, LOG_STEP_FACTOR
from orchestrator.levels.arbiter import LEVEL1_EVERY, study_metric
from orchestrator.levels.rules import noise_repeats, noise_sd, objective_facts, progress_line

if TYPE_CHECKING:
    from orchestrator.config import StudyConfig
    from orchestrator.state import StudyState

# Step-scale wording per kind of move: only the kinds the study's space has are stated.
LOG_MOVE = f"x{LOG_STEP_FACTOR:g} or /{LOG_STEP_FACTOR:g} on log-scale params"
POW2_MOVE = "one power of two on pow2 params"
LINEAR_MOVE = f"{LINEAR_STEP_FRACTION:.0%} of the range on linear params"


def step_scale_meaning(space: SearchSpace) -> str:
    """What "step scale" means, for every prompt that shows the policy's step scale, in
    terms of the moves this space's tunable params actually have."""
    moves = []
    tunable = space.tunable() or list(space.params)
    if any(p.kind in ("float", "int") and p.log for p in tunable):
        moves.append(LOG_MOVE)
    if any(p.kind == "pow2" for p in tunable):
        moves.append(POW2_MOVE)
    if any(p.kind in ("float", "int") and not p.log for p in tunable):
        moves.append(LINEAR_MOVE)
    if not moves:
        return "step scale does not apply to this space: its params are all choices"
    return (
        "step scale multiplies the default move size: at 1, one step is "
        + ", ".join(moves)
        + "; 0.5 means half that move, 2 twice it"
    )


def budget_line(config: StudyConfig) -> str:
    """The per-trial budget, in the words of the study's own objective kind."""
    budget = config.budget()
    kind = config.objective.kind
    if kind == "benchmark":
        return "each trial is one evaluation of the test function (no training budget)"
    line = f"budget per trial: {budget.amount:g} {budget.mode}"
    if kind != "gpt":
        return line + ", handed to the objective, which decides how to spend it"
    per_step = objective_facts(config).get("tokens_per_step_default")
    # A GPT objective's facts are its preset's numbers (trainer.presets.gpt_facts).
    if budget.mode == "tokens" and isinstance(per_step, int | float) and per_step:
        line += (
            f" (at the default TOTAL_BATCH_SIZE={per_step} that is "
            f"{math.floor(budget.amount / per_step)} optimizer steps; halving the batch "
            "doubles the steps)"
        )
    elif budget.mode == "seconds":
        line += (
            " of training wall-clock (start-up and evaluation excluded); the number of "
            "optimizer steps depends on machine speed and the batch size"
        )
    return line


def repeatability(config: StudyConfig) -> tuple[str, bool | None]:
    """What the study's own objective says about repeats, and whether it is known to be
    deterministic (None: the objective alone does not say)."""
    kind, budget = config.objective.kind, config.budget()
    shared = (
        f"every search trial runs with the study seed ({config.seed}), so two trials differ "
        "by their configuration"
    )
    if kind == "benchmark":
        noise = config.objective.noise
        if noise > 0:
            return (
                f"{shared} and by observation noise: Gaussian noise with sd {noise:g} is drawn "
                "from the seed and the configuration, so a repeat gives the same value but "
                "two configurations carry independent noise",
                False,
            )
        return f"{shared} only; the test function is deterministic", True
    if kind == "gpt":
        if budget.mode == "seconds":
            return (
                f"{shared} only; with a seconds budget the number of steps depends on "
                "machine speed, so a repeat of the same configuration can differ",
                False,
            )
        return f"{shared} only; the same configuration and seed reproduce the same value", True
    return f"{shared}; whether a repeat reproduces its value is up to the objective", None


def noise_line(config: StudyConfig, state: StudyState | None) -> str:
    metric = study_metric(config)
    determinism, deterministic = repeatability(config)
    sd, values = noise_sd(state), noise_repeats(state)
    if sd is not None and sd == 0.0 and not values:
        noise = f"the objective is declared deterministic: any difference in {metric.name} is real"
    elif sd is not None and sd == 0.0:
        noise = (
            f"the baseline repeated on {len(values)} seeds gave identical values, so repeats "
            f"do not differ here: any difference in {metric.name} is real, down to the "
            "resolution of the metric itself"
        )
    elif config.acceptance.rule == "paired":
        noise = "the noise estimate and how it decides a keep are in the keep rule"
    elif sd is not None:
        floor = state.noise_floor if state is not None else None
        shown = ", ".join(f"{v:.5f}" for v in values)
        noise = (
            f"measured noise: sd {sd:.5f} {metric.name} between seeds of the baseline "
            f"({len(values)} repeats: {shown})"
            + (f"; noise floor {floor:.5f}" if floor is not None else "")
            + "; a difference smaller than that may be seed luck"
        )
    elif deterministic:
        noise = f"so any difference in {metric.name} is real, not noise"
    elif config.objective.kind == "benchmark":
        noise = f"a difference smaller than a few times {config.objective.noise:g} may be noise"
    elif config.acceptance.rule == "baseline-floor":
        noise = "seed-to-seed noise is still being measured (repeats of the baseline)"
    else:
        small = (
            "differences in the 4th decimal"
            if config.objective.kind == "gpt"
            else "small differences"
        )
        noise = (
            "seed-to-seed noise is not measured in this study (acceptance rule strict): "
            f"treat {small} as possibly noise"
        )
    return f"{determinism}. {noise}"


def level2_line(config: StudyConfig) -> str | None:
    """How Level 1's proposals share the trials with mechanisms: only where Level 2 is on."""
    if not config.levels.research:
        return None
    return (
        "your proposals compete with those of search mechanisms (Level 2) for each trial; "
        f"yours run in at least one trial of every {LEVEL1_EVERY}, and more when they earn it"
    )


def study_facts(
    config: StudyConfig, state: StudyState | None = None, *, proposer: bool = True
) -> list[str]:
    """The fact lines of a Level-1 (or Level-1.5, or research) prompt: each one true of the
    study's own objective kind, budget mode, space and levels. ``proposer``: the prompt is
    Level 1's, whose proposals compete with mechanisms' where Level 2 runs."""
    metric = study_metric(config)
    lines = [f"objective: {metric.verb} {metric.name} ({metric.word})"]
    if state is not None:
        lines.append(progress_line(state))
    lines.append(budget_line(config))
    facts = objective_facts(config)
    if facts:
        lines.append("fixed facts: " + ", ".join(f"{k}={v}" for k, v in facts.items()))
    lines.append(noise_line(config, state))
    space = state.policy.effective_space(config.search_space()) if state else None
    lines.append(step_scale_meaning(space or config.search_space()))
    if proposer and (line := level2_line(config)) is not None:
        lines.append(line)
    return lines
