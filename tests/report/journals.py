"""Synthetic journals in the docs/journal.md schema, for report tests that need no study."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from trainer.presets import PRESETS

PRESET = PRESETS["cpu-tiny"]


class JournalWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.seq = 0
        self.clock = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")

    def emit(self, type_: str, **fields: Any) -> None:
        self.clock += timedelta(seconds=7)
        event = {"seq": self.seq, "ts": self.clock.isoformat(), "type": type_, **fields}
        with self.path.open("a") as handle:
            handle.write(json.dumps(event) + "\n")
        self.seq += 1


def _result(index: int, config: dict[str, Any], status: str, val: float | None) -> dict[str, Any]:
    spec = {
        "trial_id": f"t{index}",
        "index": index,
        "preset": PRESET.name,
        "dataset": "stdlib",
        "budget": {"mode": "tokens", "amount": 20000},
        "config": config,
        "seed": 0,
        "device": "cpu",
    }
    return {
        "status": status,
        "val_bpb": val,
        "steps": 40,
        "tokens": 20000,
        "tokens_per_s": 9000.0,
        "train_seconds": 2.2,
        "peak_mem_mb": 300.0,
        "hardware": "cpu",
        "error": "" if status == "ok" else "loss became nan at step 3",
        "spec": spec,
    }


def write_study_journal(
    run_dir: Path,
    *,
    trials: int = 24,
    seed: int = 0,
    baseline: float = 3.2,
    gain: float = 0.05,
    with_research: bool = True,
    finished: bool = True,
    pruned: tuple[int, ...] = (),
) -> Path:
    """A plausible study: baseline, noise floor, L1 trials, a policy change, research with a
    promotion that fires and a revert, LLM calls, a failed trial, and a study_finished;
    the trials at ``pruned`` indices were stopped early."""
    rng = random.Random(seed)
    writer = JournalWriter(run_dir / "events.jsonl")
    writer.emit(
        "study_started",
        study=run_dir.name,
        config={"name": run_dir.name, "objective": {"preset": PRESET.name}},
        versions={"bilevel-autoresearch": "0.1.0"},
        hardware="2-core CPU",
        agent="openai:fake-model",
        resumed=False,
    )
    writer.emit(
        "noise_floor",
        values=[baseline, baseline + 0.004, baseline - 0.003],
        floor=0.006,
        method="2 × sd of 3 baseline runs",
    )
    config = PRESET.space.defaults()
    best = None
    for index in range(trials):
        writer.emit(
            "llm_call",
            role="level1",
            provider="openai",
            model="fake-model",
            prompt_hash="0" * 64,
            prompt_tokens=900,
            completion_tokens=120,
            cost_usd=0.0004,
            latency_s=1.2,
            ok=index != 5,
            error="",
            attempt=0,
            transcript=f"llm/{index}.json",
        )
        if index == 0:
            changes: dict[str, Any] = {}
            source = "baseline"
        else:
            name = rng.choice(["MATRIX_LR", "WARMDOWN_RATIO", "TOTAL_BATCH_SIZE", "WINDOW_PATTERN"])
            param = PRESET.space.param(name)
            if param.kind == "choice":
                value: Any = rng.choice(param.choices)
            elif param.kind == "pow2":
                value = rng.choice([2**10, 2**11, 2**12, 2**13])
            else:
                value = round(rng.uniform(param.low or 0, min(param.high or 1, 0.2)), 4)
            changes = {name: value}
            source = "mechanism:tabu" if with_research and index > 12 and index % 3 == 0 else "llm"
        candidate = {**config, **changes}
        fired = ["tabu"] if with_research and index > 12 and index % 2 == 0 else []
        writer.emit(
            "trial_proposed",
            index=index,
            changes=changes,
            config=candidate,
            hypothesis=f"try {changes} because the curve is still falling",
            source=source,
            fired=fired,
        )
        if index == 7:
            status, val = "diverged", None
        elif index in pruned:
            status, val = "pruned", None
        else:
            status = "ok"
            val = baseline - gain * (1 - 0.9**index) + rng.gauss(0, 0.01)
        kept = val is not None and (best is None or val < best - 0.006)
        if kept:
            best, config = val, candidate
        writer.emit(
            "trial_finished",
            index=index,
            result=_result(index, candidate, status, val),
            kept=kept,
            best_val_bpb=best,
            source=source,
            fired=fired,
        )
        if index == 5:
            writer.emit(
                "policy_changed",
                iteration=5,
                diagnosis="LR dominates",
                diff={"frozen": [[], ["HEAD_DIM"]]},
                policy={"frozen": ["HEAD_DIM"]},
            )
        if with_research and index == 10:
            writer.emit("research_started", session=0, trigger="cadence", iteration=11)
            for round_ in ("explore", "critique", "specify", "generate"):
                writer.emit(
                    "llm_call",
                    role=round_,
                    provider="openai",
                    model="fake-model",
                    prompt_hash="1" * 64,
                    prompt_tokens=3000,
                    completion_tokens=800,
                    cost_usd=0.002,
                    latency_s=4.0,
                    ok=True,
                    error="",
                    attempt=0,
                    transcript="llm/r.json",
                )
                writer.emit("research_round", session=0, round=round_, summary=round_, payload={})
            writer.emit(
                "gate_verdict",
                session=0,
                mechanism="tabu",
                attempt=0,
                accepted=True,
                stage="contract",
                reason="",
                sha="abc",
            )
            writer.emit(
                "mechanism_promoted",
                session=0,
                name="tabu",
                sha="abc",
                path="mechanisms/tabu-abc.py",
                active_from=13,
                supersedes=[],
            )
            writer.emit(
                "research_finished",
                session=0,
                outcome="promoted",
                mechanism="tabu",
                reason="passed the ladder",
            )
        if with_research and index == 20:
            writer.emit(
                "mechanism_reverted",
                name="tabu",
                sha="abc",
                iteration=21,
                reason="raised 3 times",
                failures=3,
            )
    if finished:
        writer.emit(
            "study_finished",
            best={"index": 0, "val_bpb": best, "config": config},
            baseline_val_bpb=baseline,
            improvement=baseline - (best or baseline),
            trials_by_status={"ok": trials - 1, "diverged": 1},
            llm_cost_usd=0.02,
            final_reruns=[],
        )
    return writer.path
