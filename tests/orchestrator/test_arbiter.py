"""Arbitration by earned credit: Level 1's share, new mechanisms' exploration, credit, resume."""

from __future__ import annotations

import math
from typing import Any

import pytest

from orchestrator.config import StudyConfig
from orchestrator.errors import UserError
from orchestrator.levels.arbiter import (
    LEVEL1,
    LEVEL1_EVERY,
    NEW_MECHANISM_TRIALS,
    ArbiterInput,
    Choice,
    CreditArbiter,
    Outcome,
    arbiter_input,
    credit_table,
    credits,
    make_arbiter,
    outcomes,
)
from orchestrator.state import rebuild_state

MECH = "mechanism:gp"


def simulate(rewards: dict[str, float], trials: int) -> list[Choice]:
    """Run the rule for ``trials`` contested trials; each source earns a fixed reward."""
    arbiter = CreditArbiter()
    history: list[Outcome] = []
    ran: list[str] = []
    runs: dict[str, int] = {}
    choices = []
    for i in range(1, trials + 1):
        data = ArbiterInput(iteration=i, seed=0, outcomes=list(history), ran=list(ran), runs=runs)
        choice = arbiter.choose([LEVEL1, MECH], data)
        choices.append(choice)
        reward = rewards[choice.source]
        history.append(Outcome(i, choice.source, reward, reward > 0))
        ran.append(choice.source)
        runs[choice.source] = runs.get(choice.source, 0) + 1
    return choices


def test_level1_keeps_a_quarter_of_every_prefix_even_against_a_winning_mechanism() -> None:
    choices = simulate({LEVEL1: 0.0, MECH: 1.0}, 40)
    sources = [c.source for c in choices]
    for n in range(1, len(sources) + 1):
        assert sources[:n].count(LEVEL1) >= n / LEVEL1_EVERY, (n, sources[:n])
        assert LEVEL1 in sources[max(0, n - LEVEL1_EVERY) : n], (n, sources[:n])
    # ...and the mechanism that keeps earning gets everything else.
    assert sources.count(MECH) == 40 - math.ceil(40 / LEVEL1_EVERY)
    assert {c.rule for c in choices if c.source == LEVEL1} == {"level1-share"}


def test_a_new_mechanism_is_tried_before_credit_judges_it() -> None:
    choices = simulate({LEVEL1: 1.0, MECH: 0.0}, 12)
    mech = [c for c in choices if c.source == MECH]
    assert [c.rule for c in mech[:NEW_MECHANISM_TRIALS]] == ["explore-new"] * NEW_MECHANISM_TRIALS
    # A mechanism that never helps loses to a Level 1 that does, apart from UCB revisits.
    assert sum(c.source == LEVEL1 for c in choices) >= 8


def test_credit_decays_so_a_source_that_stopped_helping_loses_its_lead() -> None:
    old = [Outcome(i, MECH, 1.0, True) for i in range(1, 6)]
    recent = [Outcome(i, LEVEL1, 1.0, True) for i in range(20, 26)]
    table = credits(old + recent, 30, [LEVEL1, MECH])
    assert table[MECH].weight < table[LEVEL1].weight
    assert table[MECH].trials == 5 and table[MECH].improvements == 5


def test_same_input_same_choice() -> None:
    first = simulate({LEVEL1: 0.3, MECH: 0.3}, 20)
    second = simulate({LEVEL1: 0.3, MECH: 0.3}, 20)
    assert [c.source for c in first] == [c.source for c in second]


def _trial(index: int, source: str, value: float | None, kept: bool) -> list[dict[str, Any]]:
    spec = {
        "trial_id": f"t-{index}", "index": index, "preset": "cpu-tiny", "dataset": "stdlib",
        "budget": {"mode": "tokens", "amount": 8192}, "config": {}, "seed": 0, "device": "auto",
    }  # fmt: skip
    status = "ok" if value is not None else "diverged"
    return [
        {"type": "trial_proposed", "index": index, "changes": {}, "config": {}, "source": source},
        {"type": "trial_finished", "index": index, "kept": kept,
         "result": {"status": status, "val_bpb": value, "spec": spec}},
    ]  # fmt: skip


def test_rewards_come_from_kept_improvements_and_rebuild_from_the_journal() -> None:
    config = StudyConfig.from_dict({"name": "t", "iterations": 10})
    events = [
        *_trial(0, "baseline", 5.0, True),
        *_trial(1, "builtin", 4.9, True),  # gain 0.1
        {"type": "source_chosen", "index": 2, "chosen": MECH, "rule": "explore-new",
         "offered": [LEVEL1, MECH], "preempted": [{"source": LEVEL1, "changes": {"A": 1}}]},
        *_trial(2, MECH, 4.5, True),  # gain 0.4: the largest, reward 1
        *_trial(3, "llm", 4.6, False),  # worse than the incumbent: no reward
        *_trial(4, MECH, None, False),  # diverged
    ]  # fmt: skip
    state = rebuild_state(config, events)
    got = [(o.index, o.source, round(o.reward, 6), o.improved) for o in outcomes(state)]
    assert got == [
        (1, LEVEL1, 0.25, True),
        (2, MECH, 1.0, True),
        (3, LEVEL1, 0.0, False),
        (4, MECH, 0.0, False),
    ]
    data = arbiter_input(state, 5)
    assert data.ran == [MECH, LEVEL1, MECH]  # from the first contested choice on
    assert data.runs == {LEVEL1: 2, MECH: 2}
    rows = {r.source: r for r in credit_table(state)}
    assert rows[MECH].chosen_by == {"explore-new": 1} and rows[LEVEL1].preempted == 1
    assert rows[MECH].improvements == 1 and rows[LEVEL1].trials == 2


class FirstOffered:
    """A rule a study file can name instead of the default."""

    def choose(self, offered: list[str], data: ArbiterInput) -> Choice:
        return Choice(offered[0], "first", {})


def test_the_rule_is_swappable_from_the_study_file_and_a_bad_one_is_one_line() -> None:
    config = StudyConfig.from_dict(
        {"name": "t", "iterations": 2, "levels": {"arbiter": f"{__name__}:FirstOffered"}}
    )
    assert isinstance(make_arbiter(config.levels.arbiter), FirstOffered)
    with pytest.raises(UserError, match=r"levels\.arbiter"):
        make_arbiter("orchestrator.levels.arbiter:NoSuchRule")
    with pytest.raises(UserError, match=r"levels\.arbiter"):
        StudyConfig.from_dict({"name": "t", "iterations": 2, "levels": {"arbiter": "no colon"}})


def test_a_level1_surplus_never_lets_a_mechanism_run_four_in_a_row() -> None:
    # Level 1 ran the first 8 contested trials; a mechanism now earns everything.
    history = [Outcome(i, LEVEL1, 0.0, False) for i in range(1, 9)]
    ran = [LEVEL1] * 8
    arbiter = CreditArbiter()
    for i in range(9, 30):
        runs = {MECH: ran.count(MECH), LEVEL1: ran.count(LEVEL1)}
        data = ArbiterInput(iteration=i, seed=0, outcomes=list(history), ran=list(ran), runs=runs)
        choice = arbiter.choose([LEVEL1, MECH], data)
        history.append(Outcome(i, choice.source, 1.0 if choice.source == MECH else 0.0, True))
        ran.append(choice.source)
    tail = ran[8:]
    assert all(LEVEL1 in tail[k : k + LEVEL1_EVERY] for k in range(len(tail) - LEVEL1_EVERY + 1))
    assert tail.count(MECH) >= 15  # the mechanism still runs three in four
