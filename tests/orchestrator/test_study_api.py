"""`run_study` from Python (as the ablation drives it): baseline-floor acceptance, Level 1.5
cadence and the group-R context reset, all rebuilt identically from the journal."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.config import StudyConfig
from orchestrator.journal import read_events
from orchestrator.study import run_study
from orchestrator.summary import summary_from_journal

pytestmark = pytest.mark.slow


def test_noise_aware_policy_and_restart(tmp_path: Path) -> None:
    config = StudyConfig.from_dict(
        {
            "name": "api",
            "iterations": 4,  # the baseline's repeat counts: two search trials as before
            "objective": {"budget_mode": "tokens", "budget": 8192},
            "levels": {"policy_every": 2, "restart": True, "research_every": 2},
            "acceptance": {"rule": "baseline-floor", "baseline_repeats": 2, "final_reruns": 1},
        }
    )
    summary = run_study(config, tmp_path / "run")
    events = read_events(tmp_path / "run")
    sources = [e["source"] for e in events if e["type"] == "trial_proposed"]
    # At the end the best and the baseline run on the same fresh seed (paired, unselected).
    # ...and both are scored once on the held-out test split, which no trial was selected on.
    assert sources == [
        "baseline", "noise", "builtin", "builtin", "reseed", "reseed-baseline",
        "test-best", "test-baseline",
    ]  # fmt: skip
    proposed = [e for e in events if e["type"] == "trial_proposed"]
    assert proposed[5]["seed"] == proposed[4]["seed"] not in {p["seed"] for p in proposed[:4]}
    assert [p.get("eval_split", "val") for p in proposed][-3:] == ["val", "test", "test"]
    floor = [e for e in events if e["type"] == "noise_floor"]
    assert len(floor) == 1 and len(floor[0]["values"]) == 2 and floor[0]["floor"] >= 0
    noise_idx = sources.index("noise")
    # a kept search trial beat the incumbent by more than the floor
    finished = {e["index"]: e for e in events if e["type"] == "trial_finished"}
    assert not finished[noise_idx]["kept"]
    for _index, event in finished.items():
        if event["kept"] and event["source"] == "builtin":
            assert event["result"]["val_bpb"] < finished[0]["result"]["val_bpb"] - floor[0]["floor"]
    assert [e["type"] for e in events].count("policy_changed") >= 1
    resets = [e for e in events if e["type"] == "context_reset"]
    assert resets and resets[0]["trigger"] == "cadence"
    done = next(e for e in events if e["type"] == "study_finished")
    assert len(done["final_reruns"]) == 1 and len(done["baseline_reruns"]) == 1
    assert summary.rerun_improvement == pytest.approx(
        done["baseline_reruns"][0] - done["final_reruns"][0]
    )
    assert any(line.startswith("rerun_improvement: ") for line in summary.lines())
    assert summary.test_best is not None and summary.test_baseline is not None
    assert done["test_improvement"] == pytest.approx(summary.test_baseline - summary.test_best)
    assert summary_from_journal(tmp_path / "run").as_dict() == summary.as_dict()
