"""Shared pieces of the Level-2 tests: tiny real studies, sandbox clients, scripted LLM rounds."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from orchestrator.config import StudyConfig
from tests.conftest import need
from tests.support.fake_llm import FakeLLM, Reply

# Training tokens per trial: one optimizer step of the tiny preset. Trials stay ~2-4 s on a
# shared 2-core machine (start-up and the fixed validation pass dominate), and the
# trainer is still the real one.
TINY_TOKENS = 2048
API_KEY_ENV = "BILEVEL_TEST_LLM_KEY"


def study_config(
    name: str,
    *,
    iterations: int,
    research_every: int,
    stagnation: int = 100,
    llm_url: str | None = None,
    executor: str = "inline",
    redis_url: str | None = None,
    queue: str | None = None,
) -> StudyConfig:
    data: dict[str, Any] = {
        "name": name,
        "iterations": iterations,
        "executor": executor,
        "objective": {"preset": "cpu-tiny", "budget_mode": "tokens", "budget": TINY_TOKENS},
        "levels": {
            "research": True,
            "research_every": research_every,
            "stagnation": stagnation,
            "policy": False,  # Level 1.5 is not under test; its trials would blur timing
        },
    }
    if llm_url:
        data["llm"] = {
            "provider": "openai",
            "base_url": llm_url,
            "model": "fake-model",
            "api_key_env": API_KEY_ENV,
            "timeout_s": 5.0,
            "max_retries": 1,
        }
    if redis_url:
        data["rq"] = {"redis_url": redis_url, "queue": queue or f"{name}-trials"}
    return StudyConfig.from_dict(data)


def direct_client(backend: str) -> Any:
    """A sandbox client running ``backend`` here; a missing Docker image fails in CI."""
    from sandbox.backends.docker import engine_answers, image_exists
    from sandbox.client import DirectClient

    if backend == "docker":
        need(engine_answers(), "no Docker engine answers")
        need(image_exists(), "the sandbox image is missing (make images)")
    return DirectClient(backend)


def events(run_dir: Path, *types: str) -> list[dict[str, Any]]:
    from orchestrator.journal import read_events

    return [e for e in read_events(run_dir) if not types or e["type"] in types]


def ts(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["ts"]).timestamp()


# --------------------------------------------------------------------- scripted rounds

EXPLORE = {
    "diagnosis": "the search keeps nudging one learning rate",
    "hypotheses": [
        {
            "title": "steer to untouched parameters",
            "field": "bandits",
            "idea": "point Level 1 at parameters it never varied",
            "expected_effect": "broader coverage",
        }
    ],
}
CRITIQUE = {
    "scores": [
        {
            "title": "steer to untouched parameters",
            "gain": 5,
            "feasibility": 9,
            "novelty": 7,
            "total": 21,
            "reason": "cheap",
        }
    ],
    "selected": "steer to untouched parameters",
    "reason": "cheap and pure",
}


def specify(name: str, hooks: list[str], packages: list[str] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "class_name": "Steer",
        "hooks": hooks,
        "reads": ["history", "space"],
        "packages": packages or [],
        "supersedes": [],
        "description": "steers Level 1",
    }


def script_session(
    llm: FakeLLM, spec: dict[str, Any], *sources: str, repairs: tuple[str, ...] = ()
) -> None:
    """One session's replies: explore, critique, specify, generate, then repairs."""
    llm.script("explore", Reply.json(EXPLORE))
    llm.script("critique", Reply.json(CRITIQUE))
    llm.script("specify", Reply.json(spec))
    for source in sources:
        llm.script("generate", Reply.json({"source": source, "notes": ""}))
    for source in repairs:
        llm.script("repair", Reply.json({"source": source, "notes": "fixed"}))


def always(llm: FakeLLM, spec: dict[str, Any], source: str) -> None:
    """Later sessions get the same answers (and so the same module) every time."""
    llm.default("explore", lambda body, n: Reply.json(EXPLORE))
    llm.default("critique", lambda body, n: Reply.json(CRITIQUE))
    llm.default("specify", lambda body, n: Reply.json(spec))
    llm.default("generate", lambda body, n: Reply.json({"source": source, "notes": ""}))


def prompt_of(request: dict[str, Any]) -> str:
    return json.dumps(request["messages"])
