"""The LLM client against a real HTTP server through the real `openai` client: every fault
the issue names is retried or repaired, journaled, and transcribed."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.config import LLMConfig
from orchestrator.journal import Journal, read_events
from orchestrator.levels.level1 import Level1Reply
from orchestrator.llm import CostCapExceeded, LLMClient
from tests.support.fake_llm import FakeLLM, Reply

GOOD = {"hypothesis": "lower LR", "changes": [{"name": "MATRIX_LR", "value": 0.02}]}
SYSTEM = "[bilevel role: level1]\npropose"


@pytest.fixture
def llm() -> FakeLLM:
    with FakeLLM() as server:
        yield server


def client(llm: FakeLLM, run_dir: Path, **overrides: object) -> LLMClient:
    cfg = LLMConfig(
        provider="openai",
        base_url=llm.base_url,
        model="fake-model",
        timeout_s=1.0,
        price_prompt_per_mtok=1.0,
        price_completion_per_mtok=2.0,
        **overrides,
    )
    return LLMClient(cfg, Journal(run_dir), "test-key")


@pytest.mark.parametrize(
    "fault",
    [
        Reply.hang(3.0),
        Reply.error(429, retry_after=0.2),
        Reply.error(500),
        Reply.error(503),
        Reply.empty(),
        Reply.truncated(GOOD),
        Reply.invalid(),
        Reply.fenced(GOOD),
    ],
    ids=["timeout", "429", "500", "503", "empty", "truncated", "invalid", "fenced"],
)
def test_each_fault_is_survived(llm: FakeLLM, tmp_path: Path, fault: Reply) -> None:
    llm.script("level1", fault, Reply.json(GOOD))
    reply = client(llm, tmp_path).structured("level1", SYSTEM, "go", Level1Reply)
    assert reply.as_dict() == {"MATRIX_LR": 0.02}
    calls = [e for e in read_events(tmp_path) if e["type"] == "llm_call"]
    assert calls[-1]["ok"] and calls[-1]["model"] == "fake-model"
    assert all((tmp_path / c["transcript"]).exists() for c in calls)
    assert all(len(c["prompt_hash"]) == 64 for c in calls)


def test_retry_after_is_honoured(llm: FakeLLM, tmp_path: Path) -> None:
    llm.script("level1", Reply.error(429, retry_after=1.0), Reply.json(GOOD))
    client(llm, tmp_path).structured("level1", SYSTEM, "go", Level1Reply)
    calls = [e for e in read_events(tmp_path) if e["type"] == "llm_call"]
    assert [c["error"] for c in calls] == ["HTTP 429", ""]
    first, second = (c["ts"] for c in calls)
    from datetime import datetime

    gap = (datetime.fromisoformat(second) - datetime.fromisoformat(first)).total_seconds()
    assert gap >= 0.9


def test_ladder_falls_back_when_schema_mode_is_unsupported(llm: FakeLLM, tmp_path: Path) -> None:
    llm.unsupported_modes = {"json_schema", "json_object"}
    llm.script("level1", Reply.fenced(GOOD))
    c = client(llm, tmp_path)
    assert c.structured("level1", SYSTEM, "go", Level1Reply).as_dict() == {"MATRIX_LR": 0.02}
    formats = [r.get("response_format", {}).get("type") for r in llm.requests]
    assert formats == ["json_schema", "json_object", None]


def test_repair_carries_the_error_and_is_bounded(llm: FakeLLM, tmp_path: Path) -> None:
    llm.script("level1", *[Reply.invalid()] * 5)
    c = client(llm, tmp_path)
    with pytest.raises(Exception, match="no valid reply"):
        c.structured("level1", SYSTEM, "go", Level1Reply)
    assert len(llm.requests) == 3  # first try + two repairs
    assert "could not be used" in llm.requests[1]["messages"][-1]["content"]


def test_cost_cap_stops_spending(llm: FakeLLM, tmp_path: Path) -> None:
    c = client(llm, tmp_path, cost_cap_usd=1e-9)
    llm.script("level1", Reply.json(GOOD), Reply.json(GOOD))
    c.structured("level1", SYSTEM, "go", Level1Reply)  # spends past the cap
    with pytest.raises(CostCapExceeded):
        c.structured("level1", SYSTEM, "go", Level1Reply)
    costs = [e["cost_usd"] for e in read_events(tmp_path) if e["type"] == "llm_call"]
    assert len(costs) == 1 and costs[0] > 0


def test_a_known_model_is_priced_from_the_table(llm: FakeLLM, tmp_path: Path) -> None:
    cfg = LLMConfig(provider="openai", base_url=llm.base_url, model="deepseek-chat")
    llm.script("level1", Reply.json(GOOD))
    LLMClient(cfg, Journal(tmp_path), "k").structured("level1", SYSTEM, "go", Level1Reply)
    call = next(e for e in read_events(tmp_path) if e["type"] == "llm_call")
    expected = (call["prompt_tokens"] * 0.27 + call["completion_tokens"] * 1.10) / 1e6
    assert call["cost_usd"] == pytest.approx(expected) and expected > 0


def test_an_unpriced_model_says_cost_unknown_and_is_held_to_the_token_cap(
    llm: FakeLLM, tmp_path: Path
) -> None:
    from orchestrator.config import StudyConfig
    from orchestrator.state import rebuild_state
    from orchestrator.summary import summarize

    cfg = LLMConfig(provider="openai", base_url=llm.base_url, model="my-local-model", token_cap=1)
    c = LLMClient(cfg, Journal(tmp_path), "k")
    llm.script("level1", Reply.json(GOOD), Reply.json(GOOD))
    c.structured("level1", SYSTEM, "go", Level1Reply)  # uses more than one token
    with pytest.raises(CostCapExceeded, match="no known price"):
        c.structured("level1", SYSTEM, "go", Level1Reply)
    events = read_events(tmp_path)
    assert [e["cost_usd"] for e in events if e["type"] == "llm_call"] == [None]
    state = rebuild_state(StudyConfig.from_dict({"name": "t", "iterations": 1}), events)
    line = next(x for x in summarize(state, tmp_path, "openai:x").lines() if "llm_cost" in x)
    assert "cost unknown" in line and "$" not in line
