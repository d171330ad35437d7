"""The built-in Level 1 heuristic: the moves a study on the defaults relies on."""

from __future__ import annotations

from typing import Any

from orchestrator.agent.builtin import level1

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
