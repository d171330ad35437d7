"""The study's own recent contexts go to the contract tests, built as the live host builds them."""

from __future__ import annotations

from contract.hooks import Context
from contract.seeds import context_seed
from orchestrator.events import TrialFinished, TrialProposed
from orchestrator.level2.research.replays import recent_contexts
from orchestrator.state import StudyState
from tests.research.support import study_config
from tests.sandbox.helpers import FAST_LIMITS


def _state(trials: int) -> StudyState:
    config = study_config("replays", iterations=max(trials, 1), research_every=4)
    state = StudyState(config)
    defaults = config.search_space().defaults()
    for i in range(trials):
        changes = {} if i == 0 else {"MATRIX_LR": 0.01 * i}
        state.apply(
            TrialProposed(
                index=i,
                config={**defaults, **changes},
                changes=changes,
                source="baseline" if i == 0 else "llm",
                hypothesis="baseline: the defaults" if i == 0 else f"raise MATRIX_LR to {i}",
            )
        )
        val = 2.0 - 0.01 * i if i % 3 != 2 else None
        result = {"status": "ok" if val else "crashed", "val_bpb": val, "value": val}
        state.apply(TrialFinished(index=i, result=result, kept=bool(val)))
    return state


def test_recent_contexts_are_live_contexts_at_earlier_points() -> None:
    state = _state(9)
    replays = recent_contexts(state, 9)
    assert replays[0] == state.context_json(9)  # exactly what the live host would build now
    assert [r["iteration"] for r in replays] == [9, 6, 3]
    for replay in replays:
        ctx = Context.from_dict(replay)
        assert [t.index for t in ctx.history] == list(range(ctx.iteration))
        assert ctx.seed == context_seed(state.config.seed, ctx.iteration)
        kept = [t for t in ctx.history if t.kept]
        assert ctx.best == kept[-1] and ctx.base == kept[-1].config


def test_no_replays_before_any_trial() -> None:
    assert recent_contexts(_state(0), 0) == []


def test_the_session_ladder_tests_a_module_on_the_study_contexts() -> None:
    """A module that breaks only on this study's contexts is rejected before promotion."""
    from orchestrator.level2.research.wiring import SandboxLadder
    from sandbox.client import DirectClient

    state = _state(9)
    source = (
        "from sandbox.api import Context, Guidance, Mechanism\n\n\n"
        "class OnlyLive(Mechanism):\n"
        "    name = 'only_live'\n\n"
        "    def guide(self, ctx: Context) -> Guidance | None:\n"
        "        if any(t.hypothesis == 'raise MATRIX_LR to 7' for t in ctx.history):\n"
        "            raise RuntimeError('breaks on this study only')\n"
        "        return None\n"
    )
    client = DirectClient("process", limits=FAST_LIMITS)
    try:
        ladder = SandboxLadder(client, state.config.search_space())
        assert ladder.check(source).accepted
        verdict = ladder.check(source, replays=recent_contexts(state, 9))
    finally:
        client.close()
    assert not verdict.accepted and verdict.stage == "contract"
    assert "breaks on this study only" in verdict.reason
