"""Levels 1 and 1.5 and the mechanism seam, planned from real study state (no training)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from contract.hooks import Context
from orchestrator.agent import BuiltinAgent, LLMAgent
from orchestrator.config import StudyConfig
from orchestrator.journal import Journal
from orchestrator.levels.hooks import HookOutcome
from orchestrator.levels.level15 import run_level15
from orchestrator.levels.planner import plan_search_trial
from orchestrator.levels.policy import MIN_TUNABLE, SearchPolicy, constrain_policy
from orchestrator.levels.proposals import MechanismGuidance, Proposal, ScreenVerdict
from orchestrator.llm import LLMClient
from orchestrator.state import StudyState, rebuild_state
from tests.support.fake_llm import FakeLLM, Reply


def state_with_baseline() -> StudyState:
    config = StudyConfig.from_dict({"name": "t", "iterations": 5})
    defaults = config.search_space().defaults()
    spec = {
        "trial_id": "t-0", "index": 0, "preset": "cpu-tiny", "dataset": "stdlib",
        "budget": {"mode": "tokens", "amount": 8192}, "config": defaults, "seed": 0,
        "device": "auto",
    }  # fmt: skip
    events: list[dict[str, Any]] = [
        {"type": "trial_proposed", "index": 0, "changes": {}, "config": defaults, "source": "baseline"},
        {"type": "trial_finished", "index": 0, "kept": True,
         "result": {"status": "ok", "val_bpb": 5.0, "spec": spec}},
    ]  # fmt: skip
    return rebuild_state(config, events)


def test_invalid_proposal_is_sent_back_with_reasons_never_clamped(tmp_path: Path) -> None:
    state = state_with_baseline()
    with FakeLLM() as llm:
        llm.script(
            "level1",
            Reply.json({"hypothesis": "huge", "changes": [{"name": "MATRIX_LR", "value": 5.0}]}),
            Reply.json({"hypothesis": "ok", "changes": [{"name": "MATRIX_LR", "value": 0.08}]}),
        )
        from orchestrator.config import LLMConfig

        cfg = LLMConfig(provider="openai", base_url=llm.base_url, model="m", timeout_s=2)
        agent = LLMAgent(LLMClient(cfg, Journal(tmp_path), "k"))
        from orchestrator.levels.hooks import NoopMechanismHost

        plan = plan_search_trial(state, agent, BuiltinAgent(), NoopMechanismHost())
        second_prompt = llm.requests[1]["messages"][-1]["content"]
    assert plan.changes == {"MATRIX_LR": 0.08} and plan.source == "llm"
    assert "MATRIX_LR=5.0 is outside" in second_prompt
    assert any("outside" in r for r in plan.rejected)


class RejectFirstHost:
    """A mechanism host that rejects Level 1's first candidate and proposes its own."""

    def __init__(self) -> None:
        self.screens = 0

    def guide(self, ctx: Context) -> HookOutcome:
        return HookOutcome(guidance=[MechanismGuidance(mechanism="g", hint="try WD")], fired=["g"])

    def propose(self, ctx: Context) -> HookOutcome:
        cand = Proposal(
            changes={"WEIGHT_DECAY": 0.1}, source="mechanism:p", rationale="wd", priority=1.0
        )
        return HookOutcome(candidates=[cand])

    def screen(self, ctx: Context, candidates: list[Proposal]) -> HookOutcome:
        self.screens += 1
        verdicts = [
            ScreenVerdict(accept=c.source != "builtin", reason="no", mechanism="s")
            for c in candidates
        ]
        return HookOutcome(verdicts=verdicts, fired=["s"])

    def active(self) -> list[str]:
        return ["g", "p", "s"]


def test_fired_counts_only_output_that_changed_what_ran() -> None:
    state = state_with_baseline()
    plan = plan_search_trial(state, BuiltinAgent(), BuiltinAgent(), RejectFirstHost())
    assert plan.source == "mechanism:p" and plan.changes == {"WEIGHT_DECAY": 0.1}
    # p's candidate ran; s removed Level 1's proposal, which would have run (Level 1's share);
    # g's guidance only reached a Level-1 prompt whose proposal did not run: offered, not fired.
    assert plan.fired == ["p", "s"] and plan.offered == ["g", "p", "s"]
    assert plan.choice is not None and plan.choice["chosen"] == "mechanism:p"


def test_policy_limits_keep_enough_params_tunable() -> None:
    space = StudyConfig.from_dict({"name": "t", "iterations": 1}).search_space()
    names = [p.name for p in space.tunable()]
    wanted = SearchPolicy(frozen=names, step_scale=100.0)
    new, notes = constrain_policy(wanted, SearchPolicy(), space)
    assert len(new.frozen) == 3 and new.step_scale == 1.0
    assert len(space.tunable()) - len(new.frozen) >= MIN_TUNABLE and notes


def test_level15_builtin_returns_a_valid_policy_and_diff() -> None:
    state = state_with_baseline()
    space = state.config.search_space()
    policy, diagnosis, diff, _ = run_level15(
        BuiltinAgent(), state.hook_context(1), SearchPolicy(), space
    )
    assert diagnosis.startswith("[built-in heuristic]")
    assert isinstance(diff, dict) and policy.step_scale > 0


def test_long_history_is_compacted_but_keeps_the_best_and_recent() -> None:
    from contract.hooks import Trial
    from orchestrator.levels.level1 import BEST_TRIALS_SHOWN, RECENT_TRIALS_SHOWN, compact_history

    history = [
        Trial(index=i, val_bpb=5.0 - (0.5 if i == 3 else 0.0) + i * 1e-3, status="ok",
              changes={"MATRIX_LR": 0.01 * (i + 1)}, config={}, kept=i == 3, source="builtin")
        for i in range(200)
    ]  # fmt: skip
    shown, summary = compact_history(history)
    indices = [t.index for t in shown]
    assert 3 in indices and indices[-1] == 199  # the best and the latest survive
    assert len(shown) <= RECENT_TRIALS_SHOWN + BEST_TRIALS_SHOWN
    assert "older trials not shown" in summary and "MATRIX_LR" in summary


def test_llm_down_for_good_falls_back_to_the_builtin_agent_and_says_so(tmp_path: Path) -> None:
    from orchestrator.config import LLMConfig
    from orchestrator.levels.hooks import NoopMechanismHost

    state = state_with_baseline()
    with FakeLLM() as llm:
        llm.script("level1", *[Reply.error(503)] * 10)
        cfg = LLMConfig(provider="openai", base_url=llm.base_url, model="m", max_retries=1)
        agent = LLMAgent(LLMClient(cfg, Journal(tmp_path), "k"))
        plan = plan_search_trial(state, agent, BuiltinAgent(), NoopMechanismHost())
    assert plan.source == "builtin" and plan.hypothesis.startswith("[fallback: LLMError]")
    assert plan.changes


def test_level1_prompt_states_the_facts_and_quotes_mechanism_text_as_data() -> None:
    from orchestrator.events import NoiseFloor, PolicyChanged
    from orchestrator.levels.facts import study_facts
    from orchestrator.levels.level1 import build_prompt
    from orchestrator.levels.rules import keep_rule

    state = state_with_baseline()
    state.apply(NoiseFloor(values=[5.0, 5.02], floor=0.028))
    state.apply(PolicyChanged(policy={"focus": ["MATRIX_LR"], "step_scale": 0.5}))
    guidance = [
        MechanismGuidance(mechanism="ucb", hint="try WD\x1b[2J\u202e", focus=("WEIGHT_DECAY",))
    ]
    _, user, _ = build_prompt(
        state.hook_context(1),
        state.policy,
        guidance,
        [],
        facts=study_facts(state.config, state),
        keep_rule=keep_rule(state.config, state),
    )
    assert "budget per trial: 5 seconds" in user  # the preset's budget, mode and size
    assert "seq_len=128" in user and "approx_parameters=" in user
    assert "Keep rule (paired): a trial is compared with the incumbent on the same seed" in user
    assert "step scale multiplies the default move size" in user
    # Focus by where it came from: the policy's on the policy line, the mechanism's quoted.
    assert "step scale: 0.5; focus on: MATRIX_LR" in user
    assert '- mechanism ucb: hint "try WD"; focus ["WEIGHT_DECAY"]' in user
    assert "\x1b" not in user and "\u202e" not in user


class ScreenFirstLevel1Host(RejectFirstHost):
    """Rejects Level 1's candidate in the first screen round only; proposes its own."""

    def screen(self, ctx: Context, candidates: list[Proposal]) -> HookOutcome:
        self.screens += 1
        verdicts = [
            ScreenVerdict(accept=self.screens > 1 or c.source != "builtin", reason="tabu",
                          mechanism="s")
            for c in candidates
        ]  # fmt: skip
        return HookOutcome(verdicts=verdicts, fired=["s"])


def test_a_screen_cannot_take_level1s_share_away() -> None:
    state = state_with_baseline()
    host = ScreenFirstLevel1Host()
    plan = plan_search_trial(state, BuiltinAgent(), BuiltinAgent(), host)
    # Level 1 was due (the first contested trial): asked again with the reason, it ran.
    assert plan.source == "builtin" and host.screens == 2
    assert plan.choice is not None and plan.choice["rule"] == "level1-share"
    assert any("rejected by s: tabu" in r for r in plan.rejected)
    assert "s" in plan.fired  # its screen changed what ran


class TabuLikeHost(RejectFirstHost):
    """A tabu-style screen: it turns down Level 1's first proposal, then only repeats of it."""

    def __init__(self) -> None:
        super().__init__()
        self.turned_down: list[dict[str, Any]] = []

    def screen(self, ctx: Context, candidates: list[Proposal]) -> HookOutcome:
        self.screens += 1
        verdicts = []
        for c in candidates:
            if c.source == "builtin" and (not self.turned_down or c.changes in self.turned_down):
                self.turned_down.append(dict(c.changes))
                verdicts.append(
                    ScreenVerdict(accept=False, reason="repeats trial 0", mechanism="s")
                )
            else:
                verdicts.append(ScreenVerdict(mechanism="s"))
        return HookOutcome(verdicts=verdicts, fired=["s"])


def test_the_builtin_level1_does_not_repeat_a_proposal_a_screen_turned_down() -> None:
    # The planner quotes a turned-down candidate as a Python dict; the built-in agent must
    # recognise it there and move on, or a tabu screen starves Level 1 of its share.
    state = state_with_baseline()
    host = TabuLikeHost()
    plan = plan_search_trial(state, BuiltinAgent(), BuiltinAgent(), host)
    assert plan.source == "builtin" and host.screens == 2
    assert plan.changes not in host.turned_down


def test_a_screen_sees_the_candidate_and_not_who_proposed_it() -> None:
    proposal = Proposal({"MATRIX_LR": 0.05}, "mechanism:greedy", "why", priority=2.0)
    # The sandbox is shown changes, rationale and priority only: a screen cannot single
    # out Level 1's proposals (or a rival mechanism's) by their source.
    assert proposal.candidate().to_dict() == {
        "changes": {"MATRIX_LR": 0.05},
        "rationale": "why",
        "priority": 2.0,
    }
    assert proposal.mechanism == "greedy" and Proposal({"MATRIX_LR": 0.05}, "llm").mechanism is None


def test_level1_reads_the_typed_context_and_is_told_what_it_lacks() -> None:
    """The prompt names each parameter's purpose (the API's Param carries none: the study's
    ObjectiveText does), and the built-in agent reads back the very Context the prompt used."""
    from orchestrator.levels.level1 import build_prompt

    state = state_with_baseline()
    ctx = state.hook_context(1)
    _, user, payload = build_prompt(ctx, state.policy, [], [], objective=state.objective_text())
    assert "default 0.04, tunable - Muon learning rate for 2-D weight matrices" in user
    assert Context.from_dict(payload["ctx"]) == ctx
