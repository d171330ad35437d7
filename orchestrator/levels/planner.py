"""One iteration of DESIGN §4.2: guide -> Level 1 -> propose -> screen -> validate -> pick.

Mechanism hooks run through the :class:`MechanismHost`; the study loop never runs their
code. If no candidate survives the screens, Level 1 is asked again with the reasons. If
the agent fails for good (LLM down, cost cap reached) the built-in agent plans this trial,
and the trial's ``source`` says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from orchestrator.agent.base import Agent
from orchestrator.agent.builtin import BUILTIN_LABEL
from orchestrator.levels.hooks import MechanismHost
from orchestrator.levels.level1 import ask_level1, config_key, validate_changes
from orchestrator.state import StudyState
from trainer.spec import SearchSpace

log = logging.getLogger(__name__)

# Screen rounds: Level 1 re-asked with the screens' reasons this many times at most.
MAX_SCREEN_ROUNDS = 3


@dataclass
class Plan:
    changes: dict[str, Any]
    config: dict[str, Any]
    source: str
    hypothesis: str
    fired: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)


def _source(agent: Agent) -> str:
    return "builtin" if agent.label == BUILTIN_LABEL else "llm"


def plan_search_trial(
    state: StudyState,
    agent: Agent,
    fallback: Agent,
    host: MechanismHost,
    preset: str,
) -> Plan:
    index = state.next_index()
    ctx = state.context(index)
    tried = {config_key(t.config): t.index for t in state.ordered()}
    space = SearchSpace.model_validate({"params": ctx["space"]})
    fired: set[str] = set()
    guidance = host.guide(ctx)
    fired.update(guidance.fired)
    rejected: list[str] = []
    all_rejected: list[str] = []
    for _ in range(MAX_SCREEN_ROUNDS):
        candidates: list[dict[str, Any]] = []
        try:
            changes, hypothesis, reasons = ask_level1(
                agent, ctx, state.policy, guidance.guidance, preset, tried, rejected
            )
            source = _source(agent)
        except Exception as exc:  # the agent failed after its retries and repairs
            log.warning("level 1 agent failed (%s); the built-in agent plans trial %d", exc, index)
            changes, hypothesis, reasons = ask_level1(
                fallback, ctx, state.policy, guidance.guidance, preset, tried, rejected
            )
            source, hypothesis = "builtin", f"[fallback: {type(exc).__name__}] {hypothesis}"
        all_rejected.extend(r for r in reasons if r not in all_rejected)
        if changes:
            candidates.append(
                {"changes": changes, "rationale": hypothesis, "priority": 0.0, "source": source}
            )
        proposed = host.propose(ctx)
        for cand in proposed.candidates:
            errors = validate_changes(cand.get("changes", {}), ctx, preset, tried, max_changes=None)
            name = cand.get("mechanism", "?")
            if errors:
                all_rejected.append(f"mechanism {name} candidate invalid: {'; '.join(errors)}")
                continue
            candidates.append({**cand, "source": f"mechanism:{name}"})
        if not candidates:
            break
        screened = host.screen(ctx, candidates)
        fired.update(screened.fired)
        verdicts = screened.verdicts or [{"accept": True}] * len(candidates)
        survivors = [c for c, v in zip(candidates, verdicts, strict=False) if v.get("accept", True)]
        if survivors:
            # Highest priority first; on ties the earlier candidate (Level 1's) wins.
            chosen = max(survivors, key=lambda c: float(c.get("priority", 0.0)))
            if chosen["source"].startswith("mechanism:"):
                fired.add(chosen["source"].split(":", 1)[1])
            changes = {k: space.param(k).coerce(v) for k, v in chosen["changes"].items()}
            return Plan(
                changes=changes,
                config=space.apply(ctx["base"], changes),
                source=chosen["source"],
                hypothesis=chosen.get("rationale", ""),
                fired=sorted(fired),
                rejected=all_rejected,
            )
        rejected = [
            f"{c['changes']} rejected by {v.get('mechanism', 'a mechanism')}: {v.get('reason', '')}"
            for c, v in zip(candidates, verdicts, strict=False)
            if not v.get("accept", True)
        ]
        all_rejected.extend(rejected)
    # Nothing valid survived: the built-in agent's proposal runs unscreened, and says so.
    changes, hypothesis, reasons = ask_level1(
        fallback, ctx, state.policy, guidance.guidance, preset, tried, []
    )
    return Plan(
        changes=changes,
        config=space.apply(ctx["base"], changes),
        source="builtin",
        hypothesis=f"[fallback: no candidate survived] {hypothesis}",
        fired=sorted(fired),
        rejected=all_rejected + reasons,
    )
