"""One iteration of DESIGN §4.2: guide -> Level 1 -> propose -> screen -> validate -> arbitrate.

Mechanism hooks run through the :class:`MechanismHost`; the study loop never runs their
code. The survivors of the screens are grouped by source (Level 1, each mechanism); the
:mod:`arbiter <orchestrator.levels.arbiter>` picks the source by earned credit and that
source's highest-priority survivor runs. If no candidate survives the screens, Level 1 is
asked again with the reasons. If the agent fails for good (LLM down, cost cap reached) the
built-in agent plans this trial, and the trial's ``source`` says so.

Attribution: a mechanism *fired* for a trial only when its output changed what
ran: its candidate ran, its screen removed the candidate that would otherwise have run, or
its guidance was in the prompt of the Level-1 proposal that ran. Everything else it did is
*offered*, journaled apart and never counted as effect.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any, TypedDict

from contract.hooks import Context
from contract.limits import MAX_NAME_CHARS, MAX_RATIONALE_CHARS, MAX_REASON_CHARS
from orchestrator.agent.base import AGENT_FAILURES, Agent
from orchestrator.agent.builtin import BUILTIN_LABEL
from orchestrator.levels.arbiter import (
    LEVEL1,
    Arbiter,
    ArbiterInput,
    Choice,
    CreditArbiter,
    CreditJSON,
    arbiter_input,
    source_key,
)
from orchestrator.levels.code import code_trials
from orchestrator.levels.facts import study_facts
from orchestrator.levels.hooks import MechanismHost
from orchestrator.levels.level1 import (
    ask_level1,
    config_key,
    context_space,
    proposal_config,
    validate_changes,
)
from orchestrator.levels.proposals import (
    MECHANISM_PREFIX,
    MechanismGuidance,
    Proposal,
    ScreenVerdict,
)
from orchestrator.levels.rules import keep_rule
from orchestrator.patches import SHORT_SHA
from orchestrator.state import StudyState
from sandbox.text import clean_text
from trainer.patch import patch_sha256

log = logging.getLogger(__name__)

# Screen rounds: Level 1 re-asked with the screens' reasons this many times at most.
MAX_SCREEN_ROUNDS = 3
# Pre-emption notices shown to Level 1: its most recent proposals that did not run.
MAX_NOTICES = 3
# Characters of a candidate's rationale or a screen's reason kept in the journal and in
# prompts: the mechanism API's own limits (contract/limits.py), so what it accepts is kept
# whole. A trial's hypothesis may be Level 1's own, longer sentence.
MAX_TEXT_CHARS = max(MAX_RATIONALE_CHARS, MAX_REASON_CHARS)
MAX_HYPOTHESIS_CHARS = 2 * MAX_TEXT_CHARS


class Preempted(TypedDict):
    """An offered source's best candidate that did not run (``source_chosen.preempted``)."""

    source: str
    changes: dict[str, Any]
    rationale: str


class ChoiceFields(TypedDict):
    """The arbitration's part of a :class:`~orchestrator.events.SourceChosen` event."""

    chosen: str
    trial_source: str
    rule: str
    offered: list[str]
    credits: dict[str, CreditJSON]
    preempted: list[Preempted]


class SourceChosenFields(ChoiceFields):
    """A ``source_chosen`` event's fields: the arbitration's, for trial ``index``."""

    index: int


@dataclass
class Plan:
    changes: dict[str, Any]
    config: dict[str, Any]
    source: str
    hypothesis: str
    fired: list[str] = field(default_factory=list)  # changed what ran (attribution)
    rejected: list[str] = field(default_factory=list)
    offered: list[str] = field(default_factory=list)  # gave output, whether or not it mattered
    choice: SourceChosenFields | None = None
    patch: str | None = None  # a code trial's own recipe diff (config names it by sha256)


def _source(agent: Agent) -> str:
    return "builtin" if agent.label == BUILTIN_LABEL else "llm"


def _key(candidate: Proposal) -> str:
    """The arbitration source a candidate competes as (Level 1, or its mechanism)."""
    return source_key(candidate.source) or candidate.source


def _described(candidate: Proposal) -> str:
    """A candidate as a rejection reason quotes it: its changes, and its recipe diff's
    short sha when it carries one (the agent that wrote it recognises it so)."""
    if candidate.patch is None:
        return str(dict(candidate.changes))
    return f"{dict(candidate.changes)} with patch {patch_sha256(candidate.patch)[:SHORT_SHA]}"


def pick(
    arbiter: Arbiter, candidates: list[Proposal], data: ArbiterInput
) -> tuple[Choice, Proposal]:
    """The arbiter's source among ``candidates``' sources (Level 1 first), and that
    source's highest-priority candidate (the earlier one on ties)."""
    offered = list(dict.fromkeys(_key(c) for c in candidates))
    offered.sort(key=lambda k: k != LEVEL1)  # stable: Level 1 first, mechanisms as proposed
    choice = arbiter.choose(offered, data)
    mine = [c for c in candidates if _key(c) == choice.source]
    return choice, max(mine, key=lambda c: c.priority)


def _top_per_source(candidates: list[Proposal]) -> dict[str, Proposal]:
    top: dict[str, Proposal] = {}
    for c in candidates:
        if _key(c) not in top or c.priority > top[_key(c)].priority:
            top[_key(c)] = c
    return top


def preemption_notices(state: StudyState, limit: int = MAX_NOTICES) -> list[str]:
    """Level 1's proposals that were offered but did not run, since Level 1 last ran."""
    notices: list[str] = []
    for c in reversed(state.choices):
        if c.chosen == LEVEL1:
            break
        mine = next((p for p in c.preempted if p.get("source") == LEVEL1), None)
        if mine is None:
            continue
        winner = clean_text(c.chosen or "?", MAX_NAME_CHARS + len("mechanism:"))
        notices.append(
            f"your proposal for trial #{c.index} ({clean_text(mine.get('changes'), 200)}) was "
            f"not run: {winner}'s candidate ran instead (arbitration rule: {c.rule or '?'})"
        )
        if len(notices) >= limit:
            break
    return list(reversed(notices))


def _choice_fields(choice: Choice, chosen: Proposal, candidates: list[Proposal]) -> ChoiceFields:
    preempted: list[Preempted] = [
        {
            "source": key,
            "changes": dict(c.changes),
            "rationale": clean_text(c.rationale, MAX_TEXT_CHARS),
        }
        for key, c in _top_per_source(candidates).items()
        if key != choice.source
    ]
    return {
        "chosen": choice.source,
        "trial_source": chosen.source,
        "rule": choice.rule,
        "offered": list(dict.fromkeys(_key(c) for c in candidates)),
        "credits": choice.credits_json(),
        "preempted": preempted,
    }


def stamp_guidance(guidance: list[MechanismGuidance], ctx: Context) -> list[MechanismGuidance]:
    """Each mechanism's guidance marked with the trial it was written for and the incumbent
    it saw, as Level 1.5's guidance is marked, so every prompt shows how fresh it is."""
    best = ctx.best
    return [
        replace(
            g,
            at=ctx.iteration,
            incumbent=best.index if best else None,
            incumbent_value=best.value if best else None,
        )
        for g in guidance
    ]


def plan_search_trial(
    state: StudyState,
    agent: Agent,
    fallback: Agent,
    host: MechanismHost,
    arbiter: Arbiter | None = None,
) -> Plan:
    arbiter = arbiter or CreditArbiter()
    index = state.next_index()
    # The host, Level 1 and the planner itself read one typed Context; Level 1's prompt is
    # also told what the context does not carry (the objective's kind and description).
    ctx = state.hook_context(index)
    objective = state.objective_text()
    tried = {config_key(t.config): t.index for t in state.ordered()}
    space = context_space(ctx)
    data = arbiter_input(state, index)
    facts = study_facts(state.config, state)
    rule = keep_rule(state.config, state)
    notices = preemption_notices(state)
    code = code_trials(state.config.search.code_trials, state.patches)
    guided_by = host.guide(ctx)
    guidance = stamp_guidance(guided_by.guidance, ctx)
    guided = [g.mechanism for g in guidance if g.hint or g.focus]
    offered: set[str] = set(guided_by.fired) | set(guided)
    screen_fired: set[str] = set()
    rejected: list[str] = []
    all_rejected: list[str] = []

    def level1(asker: Agent, reasons: list[str]) -> tuple[Proposal | None, list[str]]:
        return ask_level1(
            asker, ctx, state.policy, guidance, tried, reasons, facts=facts, notices=notices,
            keep_rule=rule, source=_source(asker), code=code, objective=objective,
        )  # fmt: skip

    for round_no in range(MAX_SCREEN_ROUNDS):
        candidates: list[Proposal] = []
        try:
            own, reasons = level1(agent, rejected)
        except AGENT_FAILURES as exc:  # the agent failed after its retries and repairs
            log.warning("level 1 agent failed (%s); the built-in agent plans trial %d", exc, index)
            own, reasons = level1(fallback, rejected)
            if own is not None:
                label = f"[fallback: {type(exc).__name__}] {own.rationale}"
                own = replace(own, source="builtin", rationale=label)
        all_rejected.extend(r for r in reasons if r not in all_rejected)
        if own is not None:
            candidates.append(own)
        proposed = host.propose(ctx)
        for cand in proposed.candidates:
            name = clean_text(cand.mechanism or "?", MAX_NAME_CHARS)
            offered.add(name)
            errors = validate_changes(dict(cand.changes), ctx, tried, max_changes=None)
            if errors:
                all_rejected.append(f"mechanism {name} candidate invalid: {'; '.join(errors)}")
                continue
            candidates.append(replace(cand, source=f"{MECHANISM_PREFIX}{name}"))
        if not candidates:
            break
        screened = host.screen(ctx, candidates)
        verdicts = screened.verdicts or [ScreenVerdict()] * len(candidates)
        for v in verdicts:
            if not v.accept and v.mechanism:
                offered.add(v.mechanism)
        survivors = [c for c, v in zip(candidates, verdicts, strict=False) if v.accept]
        # What would have run without any screen: a screen that removed it changed the trial.
        due, unscreened = pick(arbiter, candidates, data)
        verdict = verdicts[next(i for i, c in enumerate(candidates) if c is unscreened)]
        if not verdict.accept:
            screen_fired.add(verdict.mechanism)
        # A screen does not take Level 1's guaranteed share away: while rounds remain, Level
        # 1 is asked again with the screens' reasons rather than another source running.
        level1_screened = due.rule == "level1-share" and all(_key(c) != LEVEL1 for c in survivors)
        if survivors and (not level1_screened or round_no == MAX_SCREEN_ROUNDS - 1):
            choice, chosen = pick(arbiter, survivors, data)
            fired = set(screen_fired)
            if _key(chosen) == LEVEL1:
                fired.update(guided)  # its guidance was in the prompt of what ran
            else:
                fired.add(chosen.mechanism or "")
            changes = {k: space.param(k).coerce(v) for k, v in chosen.changes.items()}
            return Plan(
                changes=changes,
                config=proposal_config(replace(chosen, changes=changes), ctx.base, space),
                patch=chosen.patch,
                source=chosen.source,
                hypothesis=clean_text(chosen.rationale, MAX_HYPOTHESIS_CHARS),
                fired=sorted(n for n in fired if n),
                rejected=all_rejected,
                offered=sorted(offered),
                choice={**_choice_fields(choice, chosen, survivors), "index": index},
            )
        rejected = [
            f"{_described(c)} rejected by {clean_text(v.mechanism or 'a mechanism', MAX_NAME_CHARS)}: "
            f"{clean_text(v.reason, MAX_TEXT_CHARS)}"
            for c, v in zip(candidates, verdicts, strict=False)
            if not v.accept
        ]
        all_rejected.extend(rejected)
    # Nothing valid survived: the built-in agent's proposal runs unscreened, and says so.
    # It hears every reason so far: its jumps draw afresh instead of repeating a refused one.
    last, reasons = level1(fallback, all_rejected)
    changes = dict(last.changes) if last is not None else {}
    hypothesis = last.rationale if last is not None else ""
    return Plan(
        changes=changes,
        config=proposal_config(last, ctx.base, space) if last else dict(ctx.base),
        patch=last.patch if last is not None else None,
        source="builtin",
        hypothesis=f"[fallback: no candidate survived] {hypothesis}",
        fired=sorted(screen_fired | set(guided)),
        rejected=all_rejected + reasons,
        offered=sorted(offered),
        choice={
            "index": index,
            "chosen": LEVEL1,
            "trial_source": "builtin",
            "rule": "no-survivor",
            "offered": [],
            "credits": {},
            "preempted": [],
        },
    )
