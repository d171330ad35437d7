"""Group N (null Level 2): research sessions run in full, their mechanisms never go live."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.ablation import NULL_L2_REASON, run_ablation
from orchestrator.config import StudyConfig
from orchestrator.journal import read_events

# One optimizer step of the tiny preset: the trainer is real, the trial takes seconds.
TINY_TOKENS = 2048


@pytest.mark.slow
def test_group_n_runs_research_but_promotes_nothing(tmp_path: Path) -> None:
    base = StudyConfig.from_dict(
        {
            "name": "null-l2",
            "iterations": 3,
            "executor": "inline",
            "objective": {"preset": "cpu-tiny", "budget_mode": "tokens", "budget": TINY_TOKENS},
            "levels": {"research_every": 1, "stagnation": 1, "policy_every": 100},
            "llm": {"provider": "builtin"},
            # The subject is group N, not acceptance: the paired rule's baseline repeats
            # would spend these 3 trials before any stagnation could start research.
            "acceptance": {"rule": "strict"},
        }
    )
    run_ablation(base, ["N"], 1, tmp_path)
    events = read_events(tmp_path / "N-r0" / "events.jsonl")
    kinds = [e["type"] for e in events]
    assert "research_started" in kinds and "study_finished" in kinds
    passed = [e for e in events if e["type"] == "gate_verdict" and e["accepted"]]
    assert passed, (
        "the built-in agent's module should pass the ladder for this test to mean anything"
    )
    finished = [e for e in events if e["type"] == "research_finished"]
    assert all(e["outcome"] != "promoted" for e in finished)
    assert any(e["outcome"] == "discarded" and e["reason"] == NULL_L2_REASON for e in finished)
    assert "mechanism_promoted" not in kinds
    assert all(not e.get("fired") for e in events if e["type"] == "trial_finished")
