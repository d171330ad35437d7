"""The agents are told the rules: constraints, trials left, keep rule, stamped guidance,
prompts true of the study's own objective, one set of text limits, and mechanism contexts
that carry the same facts (no training: prompts and plans built from real study state)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from contract.constraints import Constraint, ConstraintError, parse_expr
from contract.hooks import Context
from contract.limits import MAX_HINT_CHARS
from orchestrator.agent import BuiltinAgent, LLMAgent
from orchestrator.config import LLMConfig, StudyConfig
from orchestrator.errors import UserError
from orchestrator.events import NoiseFloor, PolicyChanged, TrialFinished, TrialProposed
from orchestrator.journal import Journal
from orchestrator.levels import level1, level15
from orchestrator.levels.facts import study_facts
from orchestrator.levels.hooks import HookOutcome, NoopMechanismHost
from orchestrator.levels.planner import plan_search_trial
from orchestrator.levels.policy import SearchPolicy, constrain_policy
from orchestrator.levels.proposals import MechanismGuidance, Proposal
from orchestrator.levels.rules import keep_rule
from orchestrator.llm import LLMClient
from orchestrator.state import StudyState, rebuild_state
from tests.support.fake_llm import FakeLLM, Reply

REPO = Path(__file__).resolve().parents[2]
WARMUP_FITS = {"left": "WARMUP_RATIO + WARMDOWN_RATIO", "kind": "le", "right": "1"}


def state_for(data: dict[str, Any], value: float = 5.0) -> StudyState:
    """A study with its baseline finished (``value``), from a study-file dict."""
    config = StudyConfig.from_dict(data)
    defaults = config.search_space().defaults()
    events: list[dict[str, Any]] = [
        {"type": "trial_proposed", "index": 0, "changes": {}, "config": defaults, "source": "baseline"},
        {"type": "trial_finished", "index": 0, "kept": True,
         "result": {"status": "ok", "value": value, "metric": config.metric().name}},
    ]  # fmt: skip
    return rebuild_state(config, events)


def gpt_state(**extra: Any) -> StudyState:
    return state_for({"name": "t", "iterations": 8, **extra})


def prompts(state: StudyState, guidance: list[MechanismGuidance] | None = None) -> tuple[str, str]:
    """The Level-1 and Level-1.5 prompts (system and user of each) the study would send."""
    ctx = state.hook_context(state.next_index())
    objective = state.objective_text()
    rule = keep_rule(state.config, state)
    facts = study_facts(state.config, state)
    s1, u1, _ = level1.build_prompt(
        ctx, state.policy, guidance or [], [], facts=facts, keep_rule=rule, objective=objective
    )
    space = state.config.search_space()
    facts = study_facts(state.config, state, proposer=False)
    s15, u15, _ = level15.build_prompt(ctx, state.policy, space, facts, rule, objective)
    return f"{s1}\n{u1}", f"{s15}\n{u15}"


# ------------------------------------------------------------------ constraints
def test_the_constraint_language_runs_no_code_and_shows_its_numbers() -> None:
    for text in ('__import__("os").system("x")', "a.b", "f(x)", "a ** 2", "a < b", "'s'", ""):
        with pytest.raises(ConstraintError):
            parse_expr(text)
    with pytest.raises(ConstraintError, match="unknown constraint kind"):
        Constraint(left="a", kind="divides", right="b")
    batch = Constraint(
        left="TOTAL_BATCH_SIZE", kind="multiple_of", right="DEVICE_BATCH_SIZE * seq_len"
    )
    assert (
        batch.violation({"TOTAL_BATCH_SIZE": 4096, "DEVICE_BATCH_SIZE": 32, "seq_len": 128}) is None
    )
    assert batch.violation({"TOTAL_BATCH_SIZE": 2048, "DEVICE_BATCH_SIZE": 32, "seq_len": 128}) == (
        "TOTAL_BATCH_SIZE=2048 is not a multiple of DEVICE_BATCH_SIZE*seq_len=32*128=4096"
    )
    fits = Constraint(**WARMUP_FITS)
    assert fits.violation({"WARMUP_RATIO": 0.5, "WARMDOWN_RATIO": 0.5}) is None
    assert fits.violation({"WARMUP_RATIO": 0.1 + 0.2, "WARMDOWN_RATIO": 0.7}) is None  # float noise
    assert "0.6+0.5=1.1 is not <= 1" in str(
        fits.violation({"WARMUP_RATIO": 0.6, "WARMDOWN_RATIO": 0.5})
    )
    assert "0 cannot" not in str(
        Constraint(left="a", kind="le", right="1 / b").violation({"a": 1, "b": 0})
    )
    assert "b is 0" in str(
        Constraint(left="a", kind="le", right="1 / b").violation({"a": 1, "b": 0})
    )


@pytest.mark.parametrize(
    ("constraint", "message"),
    [
        (
            {"left": "NOPE", "kind": "le", "right": "1"},
            "names 'NOPE', which is neither a parameter",
        ),
        ({"left": "WINDOW_PATTERN", "kind": "le", "right": "1"}, "choices are not all numbers"),
        ({"left": "open('x')", "kind": "le", "right": "1"}, "only + - * /"),
        ({"left": "MATRIX_LR", "kind": "below", "right": "1"}, "choose one of multiple_of"),
        ({"left": "MATRIX_LR", "kind": "le", "right": "0.01"}, "default configuration breaks"),
    ],
)
def test_a_bad_study_constraint_is_one_line_naming_the_fix(
    constraint: dict[str, str], message: str
) -> None:
    with pytest.raises(UserError, match="^study: .*" + re.escape(message)):
        StudyConfig.from_dict({"name": "t", "iterations": 3, "constraints": [constraint]})


def test_a_violating_llm_proposal_is_refused_and_the_reason_goes_back(tmp_path: Path) -> None:
    state = gpt_state(constraints=[{**WARMUP_FITS, "right": "0.9"}])
    with FakeLLM() as llm:
        llm.script(
            "level1",
            Reply.json(
                {"hypothesis": "warm up", "changes": [{"name": "WARMUP_RATIO", "value": 0.45}]}
            ),
            Reply.json(
                {"hypothesis": "big", "changes": [{"name": "DEVICE_BATCH_SIZE", "value": 128}]}
            ),
            Reply.json({"hypothesis": "ok", "changes": [{"name": "WARMUP_RATIO", "value": 0.3}]}),
        )
        cfg = LLMConfig(provider="openai", base_url=llm.base_url, model="m", timeout_s=5)
        agent = LLMAgent(LLMClient(cfg, Journal(tmp_path), "k"))
        plan = plan_search_trial(state, agent, BuiltinAgent(), NoopMechanismHost())
        asked = [r["messages"][-1]["content"] for r in llm.requests]
    assert plan.changes == {"WARMUP_RATIO": 0.3} and plan.source == "llm"
    assert "- WARMUP_RATIO+WARMDOWN_RATIO must be <= 0.9" in asked[0]  # stated before any try
    assert "WARMUP_RATIO+WARMDOWN_RATIO=0.45+0.5=0.95 is not <= 0.9" in asked[1]
    assert "DEVICE_BATCH_SIZE*seq_len=128*128=16384" in asked[2]  # the preset's own rule


class ViolatingHost(NoopMechanismHost):
    """One mechanism whose candidate breaks the preset's batch rule, one whose does not."""

    def propose(self, ctx: Context) -> HookOutcome:
        return HookOutcome(
            candidates=[
                Proposal({"DEVICE_BATCH_SIZE": 128}, "mechanism:greedy", priority=9.0),
                Proposal({"MATRIX_LR": 0.05}, "mechanism:careful", priority=1.0),
            ]
        )  # fmt: skip


def test_a_violating_mechanism_candidate_never_runs_and_its_context_says_why() -> None:
    state = gpt_state()
    plan = plan_search_trial(state, BuiltinAgent(), BuiltinAgent(), ViolatingHost())
    assert plan.config["DEVICE_BATCH_SIZE"] != 128
    refusal = next(r for r in plan.rejected if "greedy" in r)
    assert "is not a multiple of DEVICE_BATCH_SIZE*seq_len=128*128" in refusal
    state.apply(
        TrialProposed(index=1, changes=plan.changes, config=plan.config, source=plan.source,
                      rejected=plan.rejected)
    )  # fmt: skip
    ctx = Context.from_dict(state.context_json(2))
    assert any("greedy" in r and "not a multiple" in r for r in ctx.refused)
    assert ctx.violations({"DEVICE_BATCH_SIZE": 128}) and not ctx.violations({"MATRIX_LR": 0.05})


def test_the_mechanism_context_carries_the_rules_and_stays_compatible() -> None:
    state = gpt_state(acceptance={"rule": "baseline-floor"}, constraints=[WARMUP_FITS])
    state.apply(NoiseFloor(values=[5.0, 5.02, 5.01], floor=0.02))
    state.apply(PolicyChanged(policy={"step_scale": 0.5}))
    raw = state.context_json(state.next_index())
    ctx = Context.from_dict(raw)
    assert ctx.step_scale == 0.5 and ctx.noise_sd == pytest.approx(0.01)
    assert ctx.trials_left == 7  # 8 iterations, the baseline planned
    assert ctx.facts["seq_len"] == 128
    assert [c.text() for c in ctx.constraints] == [
        "TOTAL_BATCH_SIZE must be a multiple of DEVICE_BATCH_SIZE*seq_len "
        "(lower DEVICE_BATCH_SIZE or raise TOTAL_BATCH_SIZE)",
        "WARMUP_RATIO+WARMDOWN_RATIO must be <= 1",
    ]
    assert Context.from_json(ctx.to_json()) == ctx
    # An API-2 context (none of the new fields) still loads, with the documented defaults.
    old = {
        k: v
        for k, v in raw.items()
        if k in ("iteration", "seed", "space", "history", "best", "base")
    }
    legacy = Context.from_dict(old)
    assert (legacy.step_scale, legacy.noise_sd, legacy.trials_left) == (1.0, None, None)
    assert legacy.constraints == [] and legacy.violations({"DEVICE_BATCH_SIZE": 128}) == []


# ------------------------------------------------------------------ prompts
def test_prompts_state_trials_left_keep_rule_and_constraints() -> None:
    state = gpt_state(acceptance={"rule": "baseline-floor"})
    state.apply(NoiseFloor(values=[5.0, 5.02, 5.01], floor=0.02))
    for text in prompts(state):
        assert (
            "study length: 8 trials (the baseline, its repeats and re-evaluations included); 1 finished"
            in text
        )
        assert "7 still to plan" in text
        assert "## Keep rule\n" in text and "noise floor 0.02" in text
        assert "TOTAL_BATCH_SIZE must be a multiple of DEVICE_BATCH_SIZE*seq_len" in text


STUDIES: dict[str, dict[str, Any]] = {
    "gpt-seconds": {"name": "t", "iterations": 8},
    "gpt-tokens": {"name": "t", "iterations": 8, "objective": {"budget_mode": "tokens", "budget": 8192}},
    "benchmark": {"name": "t", "iterations": 8, "objective": {"kind": "benchmark", "benchmark": "branin"}},
    "benchmark-noisy": {
        "name": "t", "iterations": 8,
        "objective": {"kind": "benchmark", "benchmark": "branin", "noise": 2.5},
    },
    "function": {
        "name": "t", "iterations": 8,
        "objective": {"kind": "function", "target": "digits:evaluate", "metric": "accuracy",
                      "direction": "maximize"},
        "space": {"C": {"kind": "float", "low": 0.001, "high": 1000.0, "log": True, "default": 0.1},
                  "gamma": {"kind": "float", "low": 1e-4, "high": 10.0, "log": True, "default": 0.01},
                  "kernel": {"kind": "choice", "choices": ["rbf", "poly"], "default": "rbf"}},
    },
    "command": {
        "name": "t", "iterations": 8,
        "objective": {"kind": "command", "command": ["python", "train.py"], "metric": "val_loss",
                      "budget_mode": "steps", "budget": 300},
        "space": {"lr": {"kind": "float", "low": 0.001, "high": 1.0, "default": 0.1}},
    },
}  # fmt: skip
# Sentences that are true of GPT only: a training run's wall-clock, steps and batches.
GPT_ONLY = ("wall-clock", "optimizer step", "val_bpb", "training run", "4th decimal", "TOTAL_BATCH")
# Objectives whose every evaluation is reproducible, across seeds too: no prompt mentions
# noise. (A tokens budget makes GPT reproducible on one seed only: the paired keep rule's
# fresh-seed races are about its seed-to-seed noise, which is real.)
DETERMINISTIC = {"benchmark"}


@pytest.mark.parametrize("study", sorted(STUDIES))
@pytest.mark.parametrize("research", [False, True])
def test_every_prompt_sentence_is_true_of_the_studys_own_objective(
    study: str, research: bool
) -> None:
    state = state_for({**STUDIES[study], "levels": {"research": research}})
    kind = state.config.objective.kind
    has_pow2 = any(p.kind == "pow2" for p in state.config.search_space().tunable())
    for text in prompts(state):
        if kind != "gpt":
            assert not [s for s in GPT_ONLY if s in text], text
        assert ("power of two" in text) == has_pow2
        if study in DETERMINISTIC:
            assert "noise" not in text.replace("not noise", "").replace("observation_noise_sd", "")
        if study == "gpt-tokens":
            assert "the same configuration and seed reproduce the same value" in text
        if study == "gpt-seconds":
            assert "depends on machine speed" in text and "Keep rule (paired)" in text
        if study == "benchmark-noisy":
            assert "sd 2.5" in text and "independent noise" in text
        if kind == "benchmark":
            assert "budget" not in text.replace("no training budget", "")
        # Level 2 is named only where it runs; Level 1.5's prompt never needs it.
        level2_named = "Level 2" in text or "mechanism" in text
        assert level2_named == (research and text.startswith("You tune")), text[:80]


def test_identical_repeats_read_as_deterministic_not_as_noise() -> None:
    state = state_for({**STUDIES["function"], "acceptance": {"rule": "baseline-floor"}}, value=0.97)
    state.apply(NoiseFloor(values=[0.97, 0.97, 0.97], floor=0.0))
    for text in prompts(state):
        assert "gave identical values" in text and "any difference in accuracy is real" in text
        assert "may be noise" not in text and "seed luck" not in text


def test_a_mechanism_hint_the_api_accepts_is_shown_whole_with_its_stamp() -> None:
    state = state_for({"name": "t", "iterations": 8, "levels": {"research": True}})
    hint = "x" * (MAX_HINT_CHARS - 1) + "Z"
    guidance = [MechanismGuidance(mechanism="m", hint=hint, at=1, incumbent=0, incumbent_value=5.0)]
    text, _ = prompts(state, guidance)
    assert hint in text
    assert "- mechanism m (written for trial #1, incumbent then #0 val_bpb=5.00000)" in text


def test_stale_level15_guidance_says_the_incumbent_has_moved() -> None:
    state = gpt_state()
    ctx = state.hook_context(1)
    policy, *_ = level15.run_level15(BuiltinAgent(), ctx, state.policy, state.config.search_space())
    assert policy.written_at == 1 and policy.incumbent_at_writing == 0
    stale = policy.model_copy(update={"guidance": "raise DEVICE_BATCH_SIZE to 32"})
    _, user, _ = level1.build_prompt(ctx, stale, [], [])
    assert "written before trial #1, when the incumbent was #0 val_bpb=5.00000; it still is" in user
    assert ctx.best is not None
    moved = replace(ctx, best=replace(ctx.best, index=6, value=4.5, val_bpb=4.5))
    _, user, _ = level1.build_prompt(moved, stale, [], [])
    assert "the incumbent is now #6 val_bpb=4.50000): raise DEVICE_BATCH_SIZE" in user


def test_a_three_param_space_can_still_freeze() -> None:
    space = StudyConfig.from_dict(STUDIES["function"]).search_space()
    proposed = SearchPolicy(frozen=["kernel", "gamma"])
    new, notes = constrain_policy(proposed, SearchPolicy(), space)
    assert new.frozen == ["kernel", "gamma"] and not notes
    new, notes = constrain_policy(
        SearchPolicy(frozen=["kernel", "gamma", "C"]), SearchPolicy(), space
    )
    assert new.frozen == ["kernel", "gamma"] and "at least 1 params stay tunable" in notes[0]
    state = state_for(STUDIES["function"], value=0.9)
    _, level15_text = prompts(state)
    assert "at least 1 of the 3 tunable params stay tunable" in level15_text
    gpt_space = StudyConfig.from_dict({"name": "t", "iterations": 3}).search_space()
    many = [p.name for p in gpt_space.tunable()]
    assert (
        len(constrain_policy(SearchPolicy(frozen=many), SearchPolicy(), gpt_space)[0].frozen) == 3
    )


def test_the_research_prompt_says_what_is_frozen_and_what_is_not() -> None:
    from orchestrator.level2.research.prompts import context_block
    from tests.research.test_sessions import brief as make_brief

    brief = make_brief()
    text = context_block(brief)
    frozen = sum(1 for p in brief.space if p.frozen)
    assert f"{len(brief.space) - frozen} params tunable; FROZEN marks the {frozen}" in text
    assert "FROZEN as of the current policy" not in text
    assert (REPO / "orchestrator/level2/research/prompts.py").read_text().count("FROZEN as of") == 0


# ------------------------------------------------------------------ superseded mechanisms
def test_a_superseded_mechanism_stops_as_soon_as_its_successor_is_queued() -> None:
    from orchestrator.level2.mechanisms.host import LiveMechanism, LiveMechanismHost, Promotion
    from orchestrator.level2.mechanisms.store import StoredMechanism

    def stored(name: str) -> StoredMechanism:
        return StoredMechanism(name=name, sha=f"{name}-sha", source="", path=f"{name}.py")

    host = LiveMechanismHost(client=None)  # type: ignore[arg-type]  # no hook is called
    host.restore(LiveMechanism(stored=stored("gp_ei")))
    host.restore(LiveMechanism(stored=stored("tabu")))
    # The model names the old one as a source, in its own capitals: it is still found.
    host.queue_promotion(Promotion(stored=stored("gp_ei_v2"), supersedes=("mechanism:GP_EI",)))
    assert host.active() == ["tabu"]  # no longer called, before any boundary
    events: list[Any] = []
    promoted, reverted = host.boundary(5, events.append)
    assert promoted == ["gp_ei_v2"] and reverted == ["gp_ei"]
    assert sorted(host.active()) == ["gp_ei_v2", "tabu"]
    revert = next(e for e in events if getattr(e, "name", "") == "gp_ei")
    assert revert.reason == "superseded by gp_ei_v2" and revert.iteration == 5


def test_the_builtin_agent_never_wastes_a_round_on_a_constraint_it_can_read() -> None:
    # Both params start on the edge of x + y <= 1: every upward move breaks the rule, so an
    # agent that ignores it loses rounds to refusals; the built-in agent reads it and never does.
    study = {
        "name": "t", "iterations": 12, "levels": {"policy": False},
        "objective": {"kind": "function", "target": "m:f", "metric": "loss"},
        "space": {"x": {"kind": "float", "low": 0.0, "high": 1.0, "default": 0.5},
                  "y": {"kind": "float", "low": 0.0, "high": 1.0, "default": 0.5}},
        "constraints": [{"left": "x + y", "kind": "le", "right": "1"}],
    }  # fmt: skip
    state = state_for(study, value=1.0)
    for index in range(1, 9):
        plan = plan_search_trial(state, BuiltinAgent(), BuiltinAgent(), NoopMechanismHost())
        assert not [r for r in plan.rejected if "is not <=" in r], plan.rejected
        assert plan.config["x"] + plan.config["y"] <= 1 + 1e-9
        state.apply(
            TrialProposed(index=index, changes=plan.changes, config=plan.config, source="builtin")
        )
        state.apply(
            TrialFinished(index=index, kept=index % 3 == 0,
                          result={"status": "ok", "value": 1.0 - index / 100, "metric": "loss"})
        )  # fmt: skip


def test_the_research_facts_state_the_trials_left_but_do_not_address_level1() -> None:
    state = state_for({"name": "t", "iterations": 8, "levels": {"research": True}})
    research = study_facts(state.config, state, proposer=False)
    assert any("7 still to plan" in line for line in research)
    assert not any("your proposals compete" in line for line in research)
    assert any("your proposals compete" in line for line in study_facts(state.config, state))
