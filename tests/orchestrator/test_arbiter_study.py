"""Arbitration in whole studies (real training): Level 1 keeps its share after mechanisms go
live, the summary's credit table explains the split, and a pre-empted Level-1 proposal is
named in the next Level-1 prompt."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from contract.hooks import Context
from orchestrator.config import StudyConfig
from orchestrator.journal import read_events
from orchestrator.levels.hooks import HookOutcome
from orchestrator.levels.proposals import Proposal, ScreenVerdict
from orchestrator.study import run_study
from tests.orchestrator.helpers import REPO, events, run_cli, study_args
from tests.support.fake_llm import FakeLLM, Reply

pytestmark = pytest.mark.slow


class ProposingHost:
    """A live mechanism host with one mechanism, ``probe``, that proposes a fresh
    WEIGHT_DECAY every iteration (the seam a sandboxed mechanism's candidates come through)."""

    def guide(self, ctx: Context) -> HookOutcome:
        return HookOutcome()

    def propose(self, ctx: Context) -> HookOutcome:
        value = round(0.01 * (ctx.iteration + 1), 4)
        cand = Proposal({"WEIGHT_DECAY": value}, "mechanism:probe", "probe", priority=5.0)
        return HookOutcome(candidates=[cand])

    def screen(self, ctx: Context, candidates: list[Proposal]) -> HookOutcome:
        return HookOutcome(verdicts=[ScreenVerdict() for _ in candidates])

    def active(self) -> list[str]:
        return ["probe"]


def test_a_preempted_level1_proposal_is_named_in_the_next_prompt(tmp_path: Path) -> None:
    proposals = [{"name": "MATRIX_LR", "value": v} for v in (0.03, 0.05, 0.02)]
    with FakeLLM() as llm:
        llm.script("level1", *[Reply.json({"hypothesis": "lr", "changes": [p]}) for p in proposals])
        config = StudyConfig.from_dict(
            {
                "name": "preempt",
                "iterations": 4,
                "objective": {"budget_mode": "tokens", "budget": 8192},
                "levels": {"policy": False},
                "llm": {"provider": "openai", "base_url": llm.base_url, "model": "fake-model"},
                "acceptance": {"rule": "strict"},  # every trial a search trial: counts exact
            }
        )
        run_study(config, tmp_path / "run", mechanism_host=ProposingHost())
        prompts = [r["messages"][-1]["content"] for r in llm.requests_for("level1")]
    choices = [e for e in read_events(tmp_path / "run") if e["type"] == "source_chosen"]
    # Trial 1: Level 1's share; trial 2: the new mechanism's exploration, Level 1 pre-empted.
    assert [(c["chosen"], c["rule"]) for c in choices[:2]] == [
        ("level1", "level1-share"),
        ("mechanism:probe", "explore-new"),
    ]
    assert choices[1]["preempted"][0]["changes"] == {"MATRIX_LR": 0.05}
    notice = "your proposal for trial #2 ({'MATRIX_LR': 0.05}) was not run: mechanism:probe's"
    assert notice in prompts[2] and notice not in prompts[1]
    assert "budget per trial: 8192 tokens" in prompts[0] and "seq_len=" in prompts[0]
    assert "step scale multiplies the default move size" in prompts[0]


def test_quickstart_level1_keeps_a_quarter_after_the_first_promotion(tmp_path: Path) -> None:
    # The quickstart, shortened: 10 one-step trials, a research session every 3 trials, and
    # strict acceptance (the noise floor and final re-runs are not what this test is about).
    text = (REPO / "studies/quickstart.toml").read_text()
    text = re.sub(r'(?m)^rule = "paired"', 'rule = "strict"', text)
    text = re.sub(r"(?m)^iterations = \d+", "iterations = 10", text)
    text = re.sub(r"(?m)^research_every = \d+", "research_every = 3", text)
    study = tmp_path / "quickstart.toml"
    study.write_text(text)
    out = tmp_path / "run"
    done = run_cli(study_args(out, study=str(study)), timeout=400)
    assert done.returncode == 0, done.stderr[-2000:]
    promoted = events(out, "mechanism_promoted")
    assert promoted, "the quickstart promoted no mechanism"
    since = promoted[0]["active_from"]
    after = [e for e in events(out, "trial_proposed") if e["index"] >= since]
    level1 = [e for e in after if e["source"] in ("builtin", "llm")]
    assert after and len(level1) >= len(after) / 4, [e["source"] for e in after]
    # The credit table in the summary accounts for every search trial, by source and rule.
    rows = dict(re.findall(r"^credit\.(\S+): trials=(\d+)", done.stdout, re.MULTILINE))
    assert "level1" in rows and any(k.startswith("mechanism:") for k in rows), done.stdout
    searched = [e for e in events(out, "trial_finished") if e["source"] in ("builtin", "llm")]
    searched += [e for e in events(out, "trial_finished") if e["source"].startswith("mechanism:")]
    assert sum(int(n) for n in rows.values()) == len(searched)
    assert re.search(r"^credit\.level1: .* chosen_by=\S*level1-share", done.stdout, re.M)
