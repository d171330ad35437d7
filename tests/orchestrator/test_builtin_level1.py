"""The built-in Level 1 heuristic: the moves a study on the defaults relies on."""

from __future__ import annotations

from typing import Any

from orchestrator.agent.builtin import level1, level15

SPACE = [
    {"name": n, "kind": "float", "low": -5.0, "high": 10.0, "log": False, "choices": [],
     "default": 0.0, "frozen": False, "doc": ""}
    for n in ("x1", "x2", "x3")
]  # fmt: skip


def trial(index: int, config: dict[str, float], changes: dict[str, float], kept: bool) -> dict:
    return {"index": index, "config": config, "changes": changes, "kept": kept, "status": "ok",
            "source": "builtin", "value": 10.0 - index, "score": 10.0 - index,
            "val_bpb": 10.0 - index, "hypothesis": ""}  # fmt: skip


def payload(history: list[dict[str, Any]]) -> dict[str, Any]:
    base = next(t["config"] for t in reversed(history) if t["kept"])
    ctx = {"space": SPACE, "history": history, "base": base, "seed": 0,
           "iteration": len(history), "best": history[-1]}  # fmt: skip
    policy = {"mode": "explore", "step_scale": 1.0, "frozen": [], "focus": [], "guidance": ""}
    return {"ctx": ctx, "policy": policy, "focus": [], "rejected": [], "notices": []}


ORIGIN = {"x1": 0.0, "x2": 0.0, "x3": 0.0}
TWO_KEPT_MOVES = [
    trial(0, ORIGIN, {}, kept=True),
    trial(1, {**ORIGIN, "x1": 1.0}, {"x1": 1.0}, kept=True),
    trial(2, {**ORIGIN, "x1": 1.0, "x2": 2.0}, {"x2": 2.0}, kept=True),
]


def test_after_kept_moves_on_two_params_it_repeats_their_joint_displacement() -> None:
    # Coordinate steps on x1 then x2 both helped: the pattern move follows the diagonal.
    reply = level1(payload(TWO_KEPT_MOVES))
    assert {c["name"]: c["value"] for c in reply["changes"]} == {"x1": 2.0, "x2": 4.0}
    assert reply["hypothesis"].startswith("heuristic pattern move")


def test_after_a_failed_trial_it_goes_back_to_single_coordinate_steps() -> None:
    failed = trial(3, {**ORIGIN, "x1": 2.0, "x2": 4.0}, {"x1": 2.0, "x2": 4.0}, kept=False)
    reply = level1(payload([*TWO_KEPT_MOVES, failed]))
    assert len(reply["changes"]) == 1
    assert reply["hypothesis"].startswith("heuristic coordinate step")


def test_a_pattern_move_never_leaves_the_box_or_repeats_a_configuration() -> None:
    near_edge = [
        trial(0, ORIGIN, {}, kept=True),
        trial(1, {**ORIGIN, "x1": 6.0}, {"x1": 6.0}, kept=True),
        trial(2, {**ORIGIN, "x1": 6.0, "x2": 2.0}, {"x2": 2.0}, kept=True),
    ]
    # x1 would go to 12 > 10: only x2 could move, and one param is a coordinate step's job.
    reply = level1(payload(near_edge))
    assert reply["hypothesis"].startswith("heuristic coordinate step")
    for c in reply["changes"]:
        assert -5.0 <= c["value"] <= 10.0


def test_a_failed_joint_move_does_not_freeze_the_params_it_moved() -> None:
    history = [*TWO_KEPT_MOVES]
    for i, x in enumerate((2.0, 3.0, 4.0), start=3):  # three failed pattern-like moves
        history.append(trial(i, {**ORIGIN, "x1": x, "x2": x}, {"x1": x, "x2": x}, kept=False))
    policy = level15(payload(history))
    assert policy["frozen"] == []
    # Three failed moves of x1 alone are evidence against x1, and freeze it.
    for i, x in enumerate((2.0, 3.0, 4.0), start=6):
        history.append(trial(i, {**ORIGIN, "x1": x, "x2": 2.0}, {"x1": x}, kept=False))
    assert level15(payload(history))["frozen"] == ["x1"]


def test_a_param_outside_the_focus_still_gets_its_turn() -> None:
    # x3's one move failed; x2 keeps paying off and is in focus. Focus goes first only by a
    # head start of tries, so x3 is tried the other way before x2 is moved a fourth time.
    history = [trial(0, ORIGIN, {}, kept=True)]
    history.append(trial(1, {**ORIGIN, "x3": 2.25}, {"x3": 2.25}, kept=False))
    history.append(trial(2, {**ORIGIN, "x1": 2.25}, {"x1": 2.25}, kept=False))
    for i, x in enumerate((2.25, 4.5, 6.75), start=3):
        history.append(trial(i, {**ORIGIN, "x2": x}, {"x2": x}, kept=False))
    history[-1]["kept"] = True
    p = payload(history)
    p["focus"] = ["x2"]
    reply = level1(p)
    assert [c["name"] for c in reply["changes"]] in (["x1"], ["x3"])


def test_an_exhausted_neighbourhood_draws_an_untried_config_instead_of_the_incumbent() -> None:
    # One tunable int param of range 0..4 whose every nearby move already ran: the jump
    # widens, then draws uniformly, and what it proposes never ran before.
    space = [{"name": "n", "kind": "int", "low": 0, "high": 4, "log": False, "choices": [],
              "default": 2, "frozen": False, "doc": ""}]  # fmt: skip
    history = [trial(i, {"n": v}, {"n": v}, kept=v == 2) for i, v in enumerate((2, 1, 3))]
    data = payload(history)
    data["ctx"]["space"] = space
    data["ctx"]["base"] = {"n": 2}
    reply = level1(data)
    proposed = {c["name"]: c["value"] for c in reply["changes"]}
    assert proposed["n"] in (0, 4), reply
