"""Pruning of doomed trials (issue 13 item 5): a hopeless trial is stopped early, with its
trainer process, on the inline and the rq executor; the incumbent's own re-runs never are.

Real training (cpu-tiny, token budgets), a real rq worker on a Redis with the stack's ACL
users (the orchestrator's and the trainer's own credentials, deploy/redis-entrypoint.sh).
The one scripted part is the agent, so the search trial is known to be hopeless.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from orchestrator.ablation import GROUPS, group_config
from orchestrator.config import StudyConfig
from orchestrator.errors import UserError
from orchestrator.journal import read_events
from orchestrator.levels.level1 import Level1Reply
from orchestrator.pruning import Pruner
from orchestrator.state import rebuild_state
from orchestrator.study import run_study
from orchestrator.summary import summary_from_journal
from tests.deploy.test_redis_acl import TRIAL_QUEUE, AclRedis, acl_redis  # noqa: F401
from tests.orchestrator.helpers import start_worker, stop, wait_for

# 16 optimizer steps of cpu-tiny: a curve point per step, about 5-10 s of training.
BUDGET_TOKENS = 131072
# Every learning rate at the bottom of its range: the loss stays near the uniform guess.
HOPELESS = {"MATRIX_LR": 0.001, "EMBEDDING_LR": 0.01, "UNEMBEDDING_LR": 0.0001}


def _config(**over: Any) -> StudyConfig:
    data: dict[str, Any] = {
        "name": "prune",
        "iterations": 3,  # the baseline, its repeat and one search trial: the hopeless one
        "parallel": 1,
        "objective": {"budget_mode": "tokens", "budget": BUDGET_TOKENS},
        "levels": {"policy": False},
        "acceptance": {
            "rule": "paired",
            "baseline_repeats": 2,
            "final_reruns": 1,
            "final_test": False,
        },
        # A margin this small prunes anything behind the incumbent at all: what keeps the
        # noise repeat and the final re-runs (other seeds, often behind) alive is the rule
        # that measurements of the incumbent are never pruned, not the margin.
        "pruning": {"margin": 0.01},
    }
    data.update(over)
    return StudyConfig.from_dict(data)


# ------------------------------------------------------------------------- configuration


def test_pruning_defaults_and_validation() -> None:
    gpt = StudyConfig.from_dict({"name": "g", "iterations": 2})
    assert gpt.pruning_active() and gpt.pruning.min_fraction == 0.25
    bench = {"kind": "benchmark", "benchmark": "rosenbrock", "dim": 2}
    assert not StudyConfig.from_dict(
        {"name": "b", "iterations": 2, "objective": bench}
    ).pruning_active()
    off = StudyConfig.from_dict({"name": "g", "iterations": 2, "pruning": {"enabled": False}})
    assert not off.pruning_active()
    bad = [
        ({"min_fraction": 0}, "pruning.min_fraction"),
        ({"min_fraction": 1.5}, "pruning.min_fraction"),
        ({"margin": -1}, "pruning.margin"),
        ({"enabled": "yes please"}, "pruning.enabled"),
        ({"marign": 2}, "did you mean 'margin'"),
    ]
    for table, words in bad:
        with pytest.raises(UserError) as err:
            StudyConfig.from_dict({"name": "g", "iterations": 2, "pruning": table})
        assert words in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(UserError, match="needs an objective that reports its loss"):
        StudyConfig.from_dict(
            {"name": "b", "iterations": 2, "objective": bench, "pruning": {"enabled": True}}
        )


def test_pruning_is_off_in_every_ablation_group() -> None:
    base = StudyConfig.from_dict({"name": "g", "iterations": 2})
    assert base.pruning_active()
    for group in GROUPS:
        assert not group_config(base, group, 0).pruning_active(), group


def test_curve_recorder_and_interpolation() -> None:
    from trainer.progress import CURVE_STEP, CurveRecorder, loss_at

    fine, coarse = CurveRecorder(), CurveRecorder()
    for step in range(1, 101):  # 100 steps: one point per 5 steps
        fine.update(step / 100, 5.0)
    for step in range(1, 5):  # 4 steps: a point per step, never two at one fraction
        coarse.update(step / 4, 5.0)
    assert len(fine.curve()) == round(1 / CURVE_STEP) and fine.curve()[-1] == [1.0, 5.0]
    assert [f for f, _ in coarse.curve()] == [0.25, 0.5, 0.75, 1.0]
    curve = [[0.25, 6.0], [0.5, 4.0], [1.0, 3.0]]
    assert loss_at(curve, 0.2) is None and loss_at([], 0.5) is None
    assert loss_at(curve, 0.375) == pytest.approx(5.0) and loss_at(curve, 1.0) == 3.0


def test_the_verdict_follows_the_metric_direction() -> None:
    from orchestrator.metric import Metric
    from orchestrator.state import StudyState, TrialRecord
    from trainer.spec import TrialResult, TrialSpec

    config = StudyConfig.from_dict({"name": "g", "iterations": 3})
    curve = [[0.25, 0.80], [0.5, 0.85], [1.0, 0.90]]  # an accuracy-like curve: higher is better
    state = StudyState(config=config, noise_floor=0.01)
    best = TrialRecord(index=0, config={"a": 1}, value=0.9, status="ok", kept=True, source="baseline",
                       result=TrialResult(status="ok", metric="acc", value=0.9, curve=curve,
                                          spec=TrialSpec(trial_id="t0", index=0, budget={"mode": "tokens", "amount": 1},
                                                         config={"a": 1})))  # fmt: skip
    state.trials[0], state.best_index = best, 0
    trial = TrialRecord(index=1, config={"a": 2}, source="llm")
    state.trials[1] = trial
    up = Pruner(config.pruning, Metric("acc", "maximize"))
    assert up.judge(state, best, trial, 0.5, 0.40) is not None  # far below: doomed
    assert up.judge(state, best, trial, 0.5, 0.99) is None  # above the incumbent
    assert up.judge(state, best, trial, 0.2, 0.10) is None  # before min_fraction
    down = Pruner(config.pruning, Metric("loss", "minimize"))
    assert down.judge(state, best, trial, 0.5, 0.99) is not None
    assert down.judge(state, best, trial, 0.5, 0.40) is None
    for source in ("baseline", "noise", "reseed", "reseed-baseline", "test-best"):
        rerun = trial.model_copy(update={"source": source})
        assert up.judge(state, best, rerun, 0.5, 0.0) is None, source
    same = trial.model_copy(update={"config": best.config})  # the incumbent's own config
    assert up.judge(state, best, same, 0.5, 0.0) is None
    # Two reports beyond the margin in a row prune; one does not.
    progress = {1: {"progress": 0.5, "smooth_loss": 0.4, "elapsed_s": 2.0}}
    assert up.check(state, progress) == []
    pruned = up.check(state, {1: {**progress[1], "progress": 0.55}})
    assert [i for i, _ in pruned] == [1] and pruned[0][1].saved_s == pytest.approx(
        2.0 * 0.45 / 0.55
    )


# ------------------------------------------------------------------------- real studies


class ScriptedAgent:
    """Level 1 that always proposes the hopeless changes (nothing else asks it here)."""

    label = "scripted"

    def ask(self, role: str, **_: Any) -> Any:
        assert role == "level1", role
        return Level1Reply.model_validate(
            {
                "hypothesis": "every learning rate at its minimum",
                "changes": [{"name": k, "value": v} for k, v in HOPELESS.items()],
            }
        )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _run(config: StudyConfig, out: Path) -> dict[int, int]:
    """Run the study with the scripted agent; returns the training pid seen per index."""
    pids: dict[int, int] = {}

    def observe(kind: str, payload: Any) -> None:
        if kind == "tick":
            for index, info in payload.items():
                if isinstance(info.get("pid"), int) and info.get("phase") == "training":
                    pids[index] = info["pid"]

    run_study(config, out, observer=observe, agent=ScriptedAgent())
    return pids


def _check_journal(out: Path, config: StudyConfig) -> tuple[int, dict[str, Any]]:
    events = read_events(out)
    proposed = {e["index"]: e for e in events if e["type"] == "trial_proposed"}
    finished = {e["index"]: e for e in events if e["type"] == "trial_finished"}
    sources = [proposed[i]["source"] for i in sorted(proposed)]
    assert sources == ["baseline", "noise", "llm", "reseed", "reseed-baseline"], sources
    statuses = {i: finished[i]["result"]["status"] for i in sorted(finished)}
    assert statuses == {0: "ok", 1: "ok", 2: "pruned", 3: "ok", 4: "ok"}, statuses
    pruned = finished[2]
    assert pruned["kept"] is False and pruned["result"]["value"] is None
    why = pruned["pruned"]
    assert set(why) == {"fraction", "loss", "incumbent", "incumbent_loss", "margin", "saved_s"}
    assert 0.25 <= why["fraction"] < 0.75 and why["incumbent"] == 0
    assert why["loss"] > why["incumbent_loss"] + why["margin"] and why["saved_s"] > 0
    assert "pruned at" in pruned["result"]["error"]
    full_steps = finished[0]["result"]["steps"]
    assert 0 < pruned["result"]["steps"] < full_steps * 0.75
    # The incumbent's curve is stored with its result: what the trial was compared with.
    curve = finished[0]["result"]["curve"]
    assert len(curve) >= 10 and curve[-1][0] == 1.0 and curve[0][1] > curve[-1][1]

    # The noise repeat (the incumbent's config on another seed) was behind the incumbent by
    # more than the margin: had it been a search trial, it would have been pruned.
    state = rebuild_state(config, events)
    pruner = Pruner(config.pruning, config.metric())
    noise = state.trials[1].model_copy(update={"source": "llm", "config": {}, "status": "pending"})
    behind = [
        pruner.judge(state, state.trials[0], noise, f, loss)
        for f, loss in finished[1]["result"]["curve"]
    ]
    assert any(v is not None for v in behind), finished[1]["result"]["curve"]

    summary = summary_from_journal(out)
    line = next(x for x in summary.lines() if x.startswith("pruned: "))
    assert line == f"pruned: 1 (saved {why['saved_s']:.1f} s)"
    assert summary.best and summary.best["index"] == 0
    return pruned["index"], why


@pytest.mark.slow
def test_inline_prunes_a_hopeless_trial_and_kills_it(tmp_path: Path) -> None:
    config = _config()
    pids = _run(config, tmp_path / "run")
    index, _ = _check_journal(tmp_path / "run", config)
    wait_for(lambda: not _alive(pids[index]), 10, "the pruned trial's child to end")


@pytest.mark.slow
@pytest.mark.redis
def test_rq_prunes_a_hopeless_trial_and_stops_its_job(
    tmp_path: Path,
    acl_redis: AclRedis,  # noqa: F811
) -> None:
    from rq.job import Job, JobStatus
    from rq.serializers import JSONSerializer

    from orchestrator.executor import job_id_for

    config = _config(
        executor="rq", rq={"redis_url": acl_redis.url("orchestrator"), "queue": TRIAL_QUEUE}
    )
    worker = start_worker(TRIAL_QUEUE, acl_redis.url("trainer"))
    try:
        pids = _run(config, tmp_path / "run")
        index, _ = _check_journal(tmp_path / "run", config)
        wait_for(lambda: not _alive(pids[index]), 15, "the pruned trial's child to end")
        events = read_events(tmp_path / "run")
        spec = next(
            e["result"]["spec"] for e in events
            if e["type"] == "trial_finished" and e["index"] == index
        )  # fmt: skip
        from trainer.spec import TrialSpec

        job = Job.fetch(
            job_id_for(TrialSpec.model_validate(spec), 1),
            connection=acl_redis.connect("orchestrator"),
            serializer=JSONSerializer,
        )
        assert job.get_status() == JobStatus.STOPPED
        assert worker.poll() is None  # the worker lives on and ran the re-runs after it
    finally:
        stop(worker)
