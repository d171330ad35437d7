"""All three levels on a `benchmark` objective that is maximised: Level 1 and 1.5 steer, and a
research session promotes a mechanism that then shapes trials, with the built-in agent and
with an LLM (the fake OpenAI-compatible server) writing the module."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from orchestrator.journal import read_events
from tests.orchestrator.helpers import CLI, REPO
from tests.research.support import API_KEY_ENV, always, prompt_of, script_session, specify
from tests.support.fake_llm import FakeLLM, Reply

# API 2: rank by score (minimise-normal), move toward the better end in either direction.
HALFWAY = """
from sandbox.api import Candidate, Context, Mechanism


class Halfway(Mechanism):
    name = "halfway"

    def propose(self, ctx: Context) -> list[Candidate]:
        floats = [p for p in ctx.tunable() if p.kind == "float"]
        if not floats or ctx.best is None:
            return []
        best = min(ctx.ok_trials(), key=lambda t: t.score)  # the incumbent, either direction
        p = floats[ctx.iteration % len(floats)]
        here = float(best.config.get(p.name, p.default))
        edge = p.high if ctx.iteration % 2 else p.low
        target = round((here + edge) / 2, 4)
        if target == here:
            return []
        why = f"halfway to {edge:g} on {p.name}; best {ctx.metric} {best.value:.3f}"
        return [Candidate({p.name: target}, why, priority=0.5)]
"""

# Seconds per simulated trial: the research driver skips a session that could not shape
# trials before the study ends (it budgets ~15 s for a first session), so the 18 trials
# left after the first session must last longer than that.
DELAY_S = 1.0

STUDY = """
name = "levels"
iterations = {iterations}
[objective]
kind = "benchmark"
benchmark = "hartmann6"
direction = "maximize"
metric = "neg_f"
delay_s = {delay}
[levels]
policy = true
policy_every = 4
research = true
research_every = 2
stagnation = 100
{llm}"""


def run_study(tmp_path: Path, study: str, env: dict[str, str]) -> Path:
    file = tmp_path / "study.toml"
    file.write_text(study)
    out = tmp_path / "run"
    done = subprocess.run(
        [*CLI, "study", str(file), "--out", str(out), "--plain"],
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": str(REPO)},
        cwd=REPO,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "metric: neg_f (maximize)" in done.stdout
    return out


def check_three_levels(out: Path) -> list[dict]:
    events = read_events(out / "events.jsonl")
    kinds = {e["type"] for e in events}
    assert {"policy_changed", "research_started", "mechanism_promoted"} <= kinds
    finished = [e for e in events if e["type"] == "trial_finished"]
    kept = [e["result"]["value"] for e in finished if e["kept"]]
    assert kept == sorted(kept) and len(kept) >= 2  # higher is better, and it got better
    (summary,) = [e for e in events if e["type"] == "study_finished"]
    assert summary["improvement"] > 0 and summary["metric"] == "neg_f"
    return finished


@pytest.mark.slow  # ~50 s on 2 shared cores: every promoted library mechanism runs per trial
def test_builtin_agent_all_levels_on_a_maximised_benchmark(tmp_path: Path) -> None:
    out = run_study(tmp_path, STUDY.format(iterations=20, delay=DELAY_S, llm=""), dict(os.environ))
    finished = check_three_levels(out)
    promoted = {
        e["name"] for e in read_events(out / "events.jsonl") if e["type"] == "mechanism_promoted"
    }
    assert any(set(e["fired"]) & promoted for e in finished), "a promoted mechanism never fired"


def test_llm_written_mechanism_on_a_maximised_benchmark(tmp_path: Path) -> None:
    with FakeLLM() as llm:
        llm.default(
            "level15",
            lambda body, n: Reply.json(
                {
                    "diagnosis": "x1 and x2 matter most",
                    "frozen": [],
                    "mode": "explore",
                    "step_scale": 1.0,
                    "guidance": "move x1 and x2",
                    "focus": ["x1", "x2"],
                }
            ),
        )
        script_session(llm, specify("halfway", ["propose"]), HALFWAY)
        always(llm, specify("halfway", ["propose"]), HALFWAY)
        llm_toml = (
            f'[llm]\nprovider = "openai"\nbase_url = "{llm.base_url}"\nmodel = "fake-model"\n'
            f'api_key_env = "{API_KEY_ENV}"\ntimeout_s = 5.0\nmax_retries = 1\n'
        )
        env = {**os.environ, API_KEY_ENV: "test-key"}
        out = run_study(tmp_path, STUDY.format(iterations=20, delay=DELAY_S, llm=llm_toml), env)
        level1 = [prompt_of(r) for r in llm.requests_for("level1")]
        explore = [prompt_of(r) for r in llm.requests_for("explore")]
    finished = check_three_levels(out)
    assert any(e["source"] == "mechanism:halfway" for e in finished)
    assert "maximise neg_f (higher is better)" in level1[0] and "neg_f=" in level1[-1]
    assert "val_bpb" not in level1[-1] and "neg_f=" in explore[0]
