"""Contract contexts are indistinguishable from live ones: random per run, realistic, the
study's own contexts replayed; screen candidates valid and fresh; a veto-everything screen
is rejected."""

from __future__ import annotations

import random
from typing import Any

from contract.hooks import Context
from contract.seeds import context_seed
from sandbox import synthetic
from sandbox.contexts import STEP_SCALE_RANGE, ContractRun, contract_contexts, screen_problem
from sandbox.ladder import run_ladder
from tests.sandbox.helpers import FAST_DEADLINE_S, FAST_LIMITS

SYNTHETIC = (
    "empty-history", "long-history", "crashed-trials", "frozen-params", "history-0", "history-1",
)  # fmt: skip
LIVE_SOURCES = ("baseline", "llm", "builtin")


def _replay(space: list[dict[str, Any]], *, study_seed: int, iteration: int) -> dict[str, Any]:
    """A live context as orchestrator/state.py builds it, for a maximising study."""
    defaults = {p["name"]: p["default"] for p in space}
    lr = next(p["name"] for p in space if p["kind"] == "float" and not p["frozen"])
    history = [
        {
            "index": 0,
            "config": defaults,
            "changes": {},
            "value": 0.61,
            "val_bpb": -0.61,
            "status": "ok",
            "kept": True,
            "source": "baseline",
            "hypothesis": "baseline: the defaults",
        },
        {
            "index": 1,
            "config": defaults,
            "changes": {lr: defaults[lr]},
            "value": 0.64,
            "val_bpb": -0.64,
            "status": "ok",
            "kept": True,
            "source": "mechanism:warm_start",
            "hypothesis": f"halve {lr}: the loss curve is noisy late in the budget",
        },
    ]
    return {
        "iteration": iteration,
        "seed": context_seed(study_seed, iteration),
        "space": space,
        "history": history,
        "best": history[1],
        "base": defaults,
        "metric": "accuracy",
        "direction": "maximize",
    }


def test_every_run_draws_new_contexts(space: list[dict[str, Any]]) -> None:
    first, second = dict(contract_contexts(space, [])), dict(contract_contexts(space, []))
    assert set(first) == set(second) == set(SYNTHETIC)
    assert [c["seed"] for c in first.values()] != [c["seed"] for c in second.values()]
    assert len(first["long-history"]["history"]) != len(second["long-history"]["history"]) or (
        first["long-history"]["history"] != second["long-history"]["history"]
    )
    # The same draw when a test fixes it (reproducible failures).
    assert contract_contexts(space, [], seed=7) == contract_contexts(space, [], seed=7)


def test_synthetic_histories_read_like_a_live_study(space: list[dict[str, Any]]) -> None:
    for seed in range(5):
        cases = contract_contexts(space, [], seed=seed)
        # One study seed behind all of a run's contexts, as behind all of a live study's.
        offsets = {(c["seed"] - c["iteration"]) % 2**32 for _, c in cases}
        assert len(offsets) == 1 and offsets <= {context_seed(s, 0) for s in range(10_000)}
        for name, ctx in cases:
            parsed = Context.from_dict(ctx)
            assert 0 <= ctx["seed"] < 2**32  # what numpy and scikit-learn accept
            assert ctx["iteration"] >= len(ctx["history"])
            incumbent = dict(ctx["base"]) if not ctx["history"] else None
            for t in ctx["history"]:
                assert "synthetic" not in t["hypothesis"] and t["hypothesis"]
                assert t["source"] in LIVE_SOURCES or t["source"].startswith("mechanism:")
                assert set(t) == {
                    "index", "config", "changes", "value", "val_bpb", "status", "kept",
                    "source", "hypothesis",
                }  # fmt: skip
                if t["index"] == 0:
                    assert (t["source"], t["changes"]) == ("baseline", {})
                    incumbent = dict(t["config"])
                assert incumbent is not None
                assert t["config"] == {**incumbent, **t["changes"]}  # relative to the incumbent
                if t["kept"]:
                    incumbent = dict(t["config"])
            kept = [t for t in ctx["history"] if t["kept"]]
            assert ctx["best"] == (kept[-1] if kept else None), name
            if kept:
                assert ctx["base"] == kept[-1]["config"]
            assert parsed.metric == "val_bpb" and parsed.direction == "minimize"


def test_replays_lend_their_study_seed_metric_and_direction(space: list[dict[str, Any]]) -> None:
    replay = _replay(space, study_seed=42, iteration=2)
    cases = dict(contract_contexts(space, [replay], seed=3))
    assert set(cases) == {*SYNTHETIC, "replay-0"}
    assert Context.from_dict(cases["replay-0"]) == Context.from_dict(replay)
    for ctx in cases.values():
        assert ctx["seed"] == context_seed(42, ctx["iteration"])
        assert (ctx["metric"], ctx["direction"]) == ("accuracy", "maximize")
    long = cases["long-history"]["history"]
    assert all(t["val_bpb"] == -t["value"] for t in long if t["status"] == "ok")
    assert any(t["source"] == "mechanism:warm_start" for t in long)  # the study's own names


def test_screen_candidates_are_valid_fresh_and_live_shaped(space: list[dict[str, Any]]) -> None:
    for seed in range(5):
        run = ContractRun(space, [], name="mine", rng=random.Random(seed))
        for case in run.cases:
            context = Context.from_dict(case.context)
            own = [{"changes": {}, "rationale": "mine", "priority": 3.5}]
            candidates, proposers = run.screen_round(case.context, own)
            assert len(candidates) == len(proposers) >= 2
            # The planner's order: Level 1's one first, then each mechanism's in turn.
            assert proposers[0] == synthetic.LEVEL1 and candidates[0]["priority"] == 0.0
            assert proposers.count(synthetic.LEVEL1) == 1
            tried = [t.config for t in context.history]
            for cand in candidates:
                assert context.check(cand["changes"]) is None
                assert cand["rationale"] and -100 <= cand["priority"] <= 100
                if cand["rationale"] != "mine":
                    assert context.apply(cand["changes"]) not in tried


def test_the_module_s_own_proposals_are_among_its_screen_s_candidates(
    space: list[dict[str, Any]],
) -> None:
    run = ContractRun(space, [], name="mine", rng=random.Random(3))
    ctx = run.cases[0].context
    context = Context.from_dict(ctx)
    name = context.tunable()[0].name
    value = context.param(name).low if context.param(name).kind != "choice" else None
    own = [{"changes": {name: value}, "rationale": "mine", "priority": 2.0}]
    if value is None or not synthetic.fresh(context.apply(own[0]["changes"]), context.history):
        return
    candidates, proposers = run.screen_round(ctx, own)
    assert own[0] in candidates and proposers[candidates.index(own[0])] == synthetic.OWN


def test_nothing_in_a_context_rebuilds_its_screen_candidates(space: list[dict[str, Any]]) -> None:
    """Two runs that show the same context offer different candidates: they come from the
    supervisor's own entropy, never from the context (a copy of the generator matched
    800 of 800 contexts when they did)."""
    ctx = contract_contexts(space, [], seed=1)[0][1]
    first = ContractRun(space, []).screen_round(ctx)[0]
    second = ContractRun(space, []).screen_round(ctx)[0]
    assert first != second


def test_contexts_read_like_this_module_s_own_live_study(space: list[dict[str, Any]]) -> None:
    """Its own name among the sources, full-precision values, and a long history as long
    as the study it joins."""
    for seed in range(3):
        cases = dict(contract_contexts(space, [], name="mine", iterations=300, seed=seed))
        long = cases["long-history"]["history"]
        assert 297 <= len(long) <= 299
        assert any(t["source"] == "mechanism:mine" for t in long)
        values = [t["value"] for t in long if t["value"] is not None]
        assert any(v != round(v, 5) for v in values)
        mechanism_values = [
            v
            for t in long
            if t["source"].startswith("mechanism:")
            for v in t["changes"].values()
            if isinstance(v, float)
        ]
        assert any(float(f"{v:.4g}") != v for v in mechanism_values)
    default = dict(contract_contexts(space, [], seed=0))["long-history"]["history"]
    assert len(default) < 30  # no study named: the quickstart's length


def _verdicts(proposers: list[str], vetoed: set[str]) -> list[dict[str, Any]]:
    return [{"accept": p not in vetoed, "reason": ""} for p in proposers]


def test_a_screen_that_silences_one_proposer_is_found(space: list[dict[str, Any]]) -> None:
    """Vetoing every Level-1 candidate, or one sibling's, while letting the rest through
    is silencing; vetoing nobody in particular is not."""
    for seed in range(10):
        run = ContractRun(space, [], name="mine", rng=random.Random(seed))
        rounds = [run.screen_round(c.context) for c in run.cases]
        sibling = run.study.siblings[0]
        for target, words in ((synthetic.LEVEL1, "level 1"), (sibling, "other mechanism")):
            screens = [(c, p, _verdicts(p, {target})) for c, p in rounds]
            assert words in str(screen_problem(screens)).lower(), (seed, target)
        fair = [(c, p, _verdicts(p, set())) for c, p in rounds]
        assert screen_problem(fair) is None
        everyone = {synthetic.LEVEL1, *run.study.siblings}
        assert "vetoed all" in str(
            screen_problem([(c, p, _verdicts(p, everyone)) for c, p in rounds])
        )


def test_screen_problem_only_for_a_veto_in_every_context() -> None:
    cands = [{"changes": {"X": 1}}, {"changes": {"X": 2}}]
    who = [synthetic.LEVEL1, "other"]
    veto = [{"accept": False, "reason": "no"}] * 2
    mixed = [{"accept": False, "reason": "no"}, {"accept": True, "reason": ""}]
    assert "vetoed all 4" in str(
        screen_problem([(cands, who, veto), (cands, who, veto), ([], [], [])])
    )
    assert screen_problem([(cands, who, veto), (cands, who, mixed)]) is None
    assert screen_problem([([], [], [])]) is None


def test_a_screen_that_vetoes_everything_is_rejected(
    process_backend: Any, space: list[dict[str, Any]]
) -> None:
    source = (
        "from sandbox.api import Candidate, Context, Mechanism, Verdict\n\n\n"
        "class NoToAll(Mechanism):\n"
        "    name = 'no_to_all'\n\n"
        "    def screen(self, ctx: Context, candidates: list[Candidate]) -> list[Verdict]:\n"
        "        return [Verdict(False, 'not convinced') for _ in candidates]\n"
    )
    report = run_ladder(
        source, space, backend=process_backend, limits=FAST_LIMITS, deadline_s=FAST_DEADLINE_S
    )
    assert not report.accepted and report.stage == "contract"
    assert "screen vetoed all" in report.reason


def test_context_seeds_fit_numpy_and_scikit_learn() -> None:
    """Live and contract seeds alike stay below 2**32 whatever the study's seed."""
    import numpy as np
    from sklearn.utils import check_random_state

    for study_seed in (0, 1, 4295, 10**9):
        for iteration in (0, 1, 10_000):
            seed = context_seed(study_seed, iteration)
            np.random.RandomState(seed)
            check_random_state(seed)
    assert context_seed(0, 7) == 7  # the default study seed keeps the simple numbering


def test_synthetic_configs_are_valid_configs(space: list[dict[str, Any]]) -> None:
    """Live histories only hold configs that ran: valid values of known parameters."""
    for seed in range(5):
        for _, ctx in contract_contexts(space, [], seed=seed):
            context = Context.from_dict(ctx)
            for t in context.history:
                assert set(t.config) == {p.name for p in context.space}
                assert all(context.param(k).check(v) is None for k, v in t.config.items())


def test_counters_vary_over_the_whole_study(space: list[dict[str, Any]]) -> None:
    """trials_left, the step scale, the noise estimate and the refusals differ from context
    to context, over the whole study as live contexts do over its course: never the newest
    live context's values copied into every synthetic one (a module could key on them, and
    act only once few trials are left). The study's facts are copied: they never change."""
    live = {
        **_replay(space, study_seed=4, iteration=3),
        "trials_left": 37,
        "step_scale": 1.0,
        "noise_sd": 0.02,
        "refused": ["a refusal", "another", "a third"],
        "facts": {"seq_len": 64},
    }
    lefts, scales, noises, refusals = set(), set(), set(), set()
    for seed in range(20):
        for name, raw in contract_contexts(space, [live], seed=seed):
            ctx = Context.from_dict(raw)
            assert ctx.facts == {"seq_len": 64}
            if name.startswith("replay"):
                assert ctx.trials_left == 37
                continue
            assert ctx.trials_left == max(1, 40 - ctx.iteration)  # the study is 3 + 37 long
            lefts.add(ctx.trials_left)
            scales.add(ctx.step_scale)
            noises.add(ctx.noise_sd)
            refusals.add(tuple(ctx.refused))
    assert min(lefts) <= 3 and max(lefts) == 40 and len(lefts) > 10
    assert 1.0 in scales and len(scales) > 20
    assert min(scales) >= STEP_SCALE_RANGE[0] and max(scales) <= STEP_SCALE_RANGE[1]
    assert None in noises and len(noises) > 20
    assert len(refusals) > 3


def test_contexts_state_trials_left_without_a_live_context(space: list[dict[str, Any]]) -> None:
    """Live contexts always carry the counters: so do synthetic ones when the study has no
    live context yet (``mechanism check --study``), down to the study's last trial."""
    cases = dict(contract_contexts(space, [], iterations=50, seed=2))
    assert cases["empty-history"]["trials_left"] == 50
    assert 1 <= cases["long-history"]["trials_left"] <= 3


def test_the_step_scale_range_is_the_policy_s() -> None:
    from orchestrator.levels.policy import STEP_SCALE_RANGE as POLICY_RANGE

    assert STEP_SCALE_RANGE == POLICY_RANGE
