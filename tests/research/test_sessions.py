"""Research sessions through the fake OpenAI-compatible server and the real gate ladder.

The LLM is the only stand-in: prompts go through the real `openai` client and the modules
through the real sandbox (docker, and the process backend for development machines).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from contract.hooks import Trial
from orchestrator.agent import LLMAgent
from orchestrator.config import LLMConfig
from orchestrator.journal import Journal
from orchestrator.level2.mechanisms import level2_summary_lines, source_sha
from orchestrator.level2.research import ResearchSession, SandboxLadder
from orchestrator.level2.research.driver import api_source
from orchestrator.level2.research.rounds import ActiveSummary, Brief
from orchestrator.llm import LLMClient
from sandbox.gate import allowed_modules
from tests.research.support import direct_client, events, prompt_of, script_session, specify
from tests.support.fake_llm import FakeLLM
from trainer.presets import get_preset

SPACE = get_preset("cpu-tiny").space

# Proposes a change to DEPTH, which the space freezes: static and smoke pass, the
# contract tests catch it. The repair reads `frozen` instead of assuming names.
FROZEN_SLIP = """
from sandbox.api import Candidate, Context, Mechanism


class Deepen(Mechanism):
    name = "deepen"

    def propose(self, ctx: Context) -> list[Candidate]:
        return [Candidate(changes={"DEPTH": 4}, rationale="deeper is better", priority=0.2)]
"""
REPAIRED = """
from sandbox.api import Candidate, Context, Mechanism


class Deepen(Mechanism):
    name = "deepen"

    def propose(self, ctx: Context) -> list[Candidate]:
        tunable = ctx.tunable()
        if not tunable or tunable[0].kind != "pow2":
            return []
        p = tunable[0]
        value = ctx.base[p.name]
        new = value * 2 if value * 2 <= p.high else value // 2
        return [Candidate(changes={p.name: new}, rationale="double the first knob", priority=0.2)]
"""
NEEDS_TORCH = """
import torch

from sandbox.api import Guidance, Mechanism


class TorchGuide(Mechanism):
    name = "torch_guide"

    def guide(self, ctx):
        return Guidance(hint=str(torch.zeros(1)))
"""


def brief(session: int = 1) -> Brief:
    defaults = SPACE.defaults()
    history = [
        Trial(
            index=i,
            config={**defaults, "MATRIX_LR": 0.04 * (1 + i / 10)},
            changes={"MATRIX_LR": 0.04 * (1 + i / 10)} if i else {},
            val_bpb=7.6 - 0.01 * i,
            status="ok",
            kept=True,
            source="baseline" if i == 0 else "llm",
        )
        for i in range(4)
    ]
    return Brief(
        session=session,
        trigger="cadence",
        iteration=4,
        objective="cpu-tiny on stdlib",
        space=list(SPACE.params),
        history=history,
        best=history[-1],
        active=[ActiveSummary("tabu_screen", "0123abcd", 2, fired=3, chosen=0, kept=1)],
        api_source=api_source(),
        allowlist=allowed_modules(),
    )


def sandbox_client(backend: str, request: pytest.FixtureRequest) -> Any:
    """A direct client on ``backend``, or (``runner``) the ladder through Redis and two
    `bilevel sandbox-runner` processes."""
    if backend != "runner":
        return direct_client(backend)
    from sandbox.client import RunnerClient

    services = request.getfixturevalue("rq_services")
    return RunnerClient(services.redis_url, services.sandbox_queue)


def run_session(llm: FakeLLM, run_dir: Path, client: Any) -> ResearchSession:
    journal = Journal(run_dir)
    config = LLMConfig(provider="openai", base_url=llm.base_url, model="fake-model", timeout_s=5)
    agent = LLMAgent(LLMClient(config, journal, "test-key"))
    ladder = SandboxLadder(client, SPACE)
    session = ResearchSession(brief(), agent, ladder, journal.append, run_dir)
    session.outcome = session.run()  # type: ignore[attr-defined]
    journal.close()
    return session


@pytest.mark.parametrize(
    "backend",
    [
        pytest.param("docker", marks=pytest.mark.docker),
        "process",
        pytest.param("runner", marks=[pytest.mark.docker, pytest.mark.redis]),
    ],
)
def test_a_module_that_fails_the_ladder_is_repaired_and_promoted(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    client = sandbox_client(backend, request)
    with FakeLLM() as llm:
        fenced = f"```python{REPAIRED}```"  # chat models wrap code in a fence; it is removed
        script_session(llm, specify("deepen", ["propose"]), FROZEN_SLIP, repairs=(fenced,))
        session = run_session(llm, tmp_path, client)
        repair_prompts = [prompt_of(r) for r in llm.requests_for("repair")]
        explore_prompt = prompt_of(llm.requests_for("explore")[0])

    # The first round sees the full trace with values, the API, the allowlist and what the
    # active mechanisms did.
    assert "MATRIX_LR=0.044" in explore_prompt and "val_bpb=7.5900" in explore_prompt
    assert "class Mechanism" in explore_prompt and "sklearn" in explore_prompt
    assert "tabu_screen" in explore_prompt and "fired in 3 trials" in explore_prompt

    outcome = session.outcome  # type: ignore[attr-defined]
    rounds = [e["round"] for e in events(tmp_path, "research_round")]
    assert rounds == ["explore", "critique", "specify", "generate"]
    verdicts = events(tmp_path, "gate_verdict")
    assert [(v["attempt"], v["accepted"]) for v in verdicts] == [(0, False), (1, True)]
    assert verdicts[0]["stage"] == "contract" and "DEPTH" in verdicts[0]["reason"]
    # The LLM was shown the ladder's reason, with the module that caused it.
    assert len(repair_prompts) == 1 and "DEPTH" in repair_prompts[0]
    assert outcome.outcome == "promoted" and outcome.promotion is not None
    stored = tmp_path / outcome.promotion.stored.path
    assert stored.name == f"deepen-{source_sha(REPAIRED.lstrip())}.py"
    assert stored.read_text() == REPAIRED.lstrip()
    assert outcome.promotion.hooks == ("propose",)
    (finished,) = events(tmp_path, "research_finished")
    assert finished["outcome"] == "promoted" and finished["mechanism"] == "deepen"


def test_a_module_needing_an_unshipped_package_is_rejected_before_promotion(tmp_path: Path) -> None:
    with FakeLLM() as llm:
        script_session(llm, specify("torch_guide", ["guide"], ["torch"]), NEEDS_TORCH)
        session = run_session(llm, tmp_path, direct_client("process"))
        assert llm.requests_for("repair") == []  # no repair can add a package to the image

    outcome = session.outcome  # type: ignore[attr-defined]
    assert outcome.outcome == "rejected" and outcome.promotion is None
    assert outcome.missing == ("torch",)
    (verdict,) = events(tmp_path, "gate_verdict")
    assert verdict["stage"] == "static" and not verdict["accepted"]
    assert verdict["missing_packages"] == ["torch"]
    assert "needs torch, not shipped in the sandbox" in verdict["reason"]
    (finished,) = events(tmp_path, "research_finished")
    assert finished["outcome"] == "rejected" and "torch" in finished["reason"]
    assert not (tmp_path / "mechanisms").exists()
    summary = "\n".join(level2_summary_lines(tmp_path))
    assert "torch_guide" in summary
    assert "rejected: needs torch, not shipped in the sandbox" in summary
