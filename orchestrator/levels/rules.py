"""The study's rules as every source of proposals is told them: the trials done and left,
the constraints between parameters, the noise estimate, the keep rule, and the refusals.

One module reads them from the config and the state, so the Level-1, Level-1.5 and research
prompts and the mechanism context (:meth:`StudyState.context`) can never disagree. Where
the state keeps a number in a form another module owns (the noise estimate, the keep rule),
it is read here through one small accessor, so a change there changes one function here.
"""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING

from contract import limits
from contract.trials import REPORT_SOURCES
from sandbox.text import clean_text

if TYPE_CHECKING:
    from orchestrator.config import StudyConfig
    from orchestrator.state import StudyState

# Refusals a mechanism context carries: the most recent ones; older ones describe a search
# the incumbent has moved past.
MAX_REFUSED_SHOWN = 12


def noise_sd(state: StudyState | None) -> float | None:
    """The estimated standard deviation of one evaluation of a configuration over seeds
    (the acceptance noise model's, pooled from every repeat): None when the study has not
    measured it, 0.0 when its repeats were identical."""
    if state is None:
        return None
    from orchestrator.acceptance.judge import noise  # the judge reads the state

    estimate = noise(state, state.best())
    if estimate.deterministic:
        return 0.0
    if estimate.observation_sd is not None:
        return estimate.observation_sd
    # The baseline-floor rule measures its floor from baseline repeats journaled as one event.
    values = [float(v) for v in state.noise_values]
    return statistics.stdev(values) if len(values) >= 2 else None


def noise_repeats(state: StudyState | None) -> list[float]:
    """The repeated values the noise estimate comes from (for prompts)."""
    return [float(v) for v in state.noise_values] if state else []


def trial_counts(state: StudyState) -> tuple[int, int, int]:
    """``(planned, finished, left)`` of the trials that count against ``iterations``: the
    baseline, its seed repeats and the keep decisions' re-evaluations included, the final
    report re-runs not; ``left`` are still to plan (``iterations`` minus those proposed)."""
    counted = [t for t in state.ordered() if t.source not in REPORT_SOURCES]
    finished = sum(1 for t in counted if t.finished)
    return len(counted), finished, max(0, state.config.iterations - len(counted))


def progress_line(state: StudyState) -> str:
    """``study length: ...`` for every prompt: exploring pays early, exploiting late."""
    planned, finished, left = trial_counts(state)
    total = state.config.iterations
    running = planned - finished
    return (
        f"study length: {total} trials (the baseline, its repeats and re-evaluations "
        f"included); {finished} finished"
        + (f", {running} running" if running else "")
        + f"; {left} still to plan, the next one included"
        + (" (this is the last one)" if left == 1 else "")
    )


def constraint_lines(config: StudyConfig) -> list[str]:
    """One line per constraint between parameters (the preset's, then the study file's)."""
    return [c.text() for c in config.all_constraints()]


def keep_rule(config: StudyConfig, state: StudyState | None) -> str:
    """When a trial becomes the incumbent, with its current numbers: the body of every
    prompt's "Keep rule" section (the acceptance code owns the rule and states it)."""
    from orchestrator.acceptance.judge import keep_rule_text  # the judge reads the state

    return keep_rule_text(config, state)


def refused_lines(state: StudyState) -> list[str]:
    """Why candidates were refused before they ran, most recent last (module text in them
    was cleaned where it entered the host; cut here to the API's reason length)."""
    lines: list[str] = []
    for t in state.ordered():
        lines.extend(
            f"trial #{t.index}: {clean_text(r, limits.MAX_REASON_CHARS)}" for r in t.rejected
        )
    return lines[-MAX_REFUSED_SHOWN:]


def objective_facts(config: StudyConfig) -> dict[str, object]:
    """What no parameter shows about the objective (sequence length, tokens per step, model
    size for GPT). The one source of these facts for prompts: objective plug-ins switch it."""
    return _with_size(dict(config.objective_facts()))


def _with_size(facts: dict[str, object]) -> dict[str, object]:
    """GPT facts gain the model size (the presets state depth and width, not the count)."""
    size = _gpt_parameters(facts)
    if size is not None:
        facts.setdefault("approx_parameters", size)
    return facts


def _gpt_parameters(facts: dict[str, object]) -> int | None:
    """12·depth·d² for the blocks plus input and output embeddings (tied or not: 2·V·d)."""
    depth, dim, vocab = facts.get("depth"), facts.get("model_dim"), facts.get("vocab_size")
    if not (depth and dim and vocab):
        return None
    if not (
        isinstance(depth, int | float)
        and isinstance(dim, int | float)
        and isinstance(vocab, int | float)
    ):
        return None  # facts a study declared with these names but not numbers: no size
    return int(12 * depth * dim * dim + 2 * vocab * dim)


def context_rules(state: StudyState) -> dict[str, object]:
    """The mechanism context's rule fields (``sandbox.api.Context``, API 3)."""
    config = state.config
    facts = objective_facts(config)
    return {
        "step_scale": state.policy.step_scale,
        "noise_sd": noise_sd(state),
        "trials_left": trial_counts(state)[2],
        "facts": {k: v for k, v in facts.items() if _json_scalar(v)},
        "constraints": [c.to_dict() for c in config.all_constraints()],
        "refused": refused_lines(state),
    }


def _json_scalar(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)
