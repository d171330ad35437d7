"""A bug in a level fails the study loudly; only what a fallback is for falls back (issue 15).

Level 1 falls back to the built-in agent, Level 1.5 keeps the old policy and a Level-2
session ends as "failed" when the LLM is down for good. A TypeError in our own code is not
an outage: it must not turn into a healthy-looking study of "[fallback: TypeError]" trials.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestrator.config import StudyConfig
from orchestrator.journal import read_events
from orchestrator.llm import LLMError
from orchestrator.study import run_study

BENCH = {"kind": "benchmark", "benchmark": "rosenbrock", "dim": 2}


class _Agent:
    def __init__(self, error: Exception, roles: tuple[str, ...] = ("level1",)) -> None:
        from orchestrator.agent.builtin import BuiltinAgent

        self.error, self.roles, self.inner = error, roles, BuiltinAgent()
        self.label = "test-agent"

    def ask(self, role: str, **kw: Any) -> Any:
        if role in self.roles:
            raise self.error
        return self.inner.ask(role, **kw)


def _config(name: str, **levels: Any) -> StudyConfig:
    return StudyConfig.from_dict(
        {
            "name": name,
            "iterations": 3,
            "objective": BENCH,
            "levels": {"policy": False, "research": False, **levels},
        }
    )


def test_a_type_error_in_level1_fails_the_study_instead_of_falling_back(tmp_path: Path) -> None:
    bug = TypeError("level1() got an unexpected keyword argument 'temperature'")
    with pytest.raises(TypeError, match="unexpected keyword argument 'temperature'"):
        run_study(_config("bug"), tmp_path / "run", agent=_Agent(bug))
    hypotheses = [e.get("hypothesis", "") for e in read_events(tmp_path / "run")]
    assert not any("fallback" in h for h in hypotheses)


def test_an_llm_down_for_good_still_falls_back_to_the_builtin_agent(tmp_path: Path) -> None:
    down = LLMError("level1: failed after 3 attempts: HTTP 503")
    summary = run_study(_config("down"), tmp_path / "run", agent=_Agent(down))
    events = read_events(tmp_path / "run")
    search = [e for e in events if e["type"] == "trial_proposed" and e["source"] == "builtin"]
    assert search and all(e["hypothesis"].startswith("[fallback: LLMError]") for e in search)
    assert summary.finished and summary.best is not None


def test_a_type_error_in_level15_fails_the_study(tmp_path: Path) -> None:
    config = _config("policy-bug", policy=True, policy_every=1)
    with pytest.raises(AttributeError, match="no attribute 'focus'"):
        run_study(
            config,
            tmp_path / "run",
            agent=_Agent(AttributeError("'dict' object has no attribute 'focus'"), ("level15",)),
        )
    assert not any(
        "level 1.5 failed" in str(e.get("diagnosis", "")) for e in read_events(tmp_path / "run")
    )


def test_a_research_session_bug_is_journaled_and_raised(tmp_path: Path) -> None:
    from orchestrator.level2.research.session import ResearchSession
    from tests.research.test_sessions import brief  # the same brief the session tests use

    journaled: list[dict[str, Any]] = []

    def emit(event: Any = None, /, **fields: Any) -> None:  # emit(event) or emit(type, **fields)
        journaled.append(fields or event.model_dump())

    session = ResearchSession(
        brief(), _Agent(KeyError("hypotheses"), ("explore",)), None, emit, tmp_path
    )  # type: ignore[arg-type]  # the ladder is never reached
    with pytest.raises(KeyError, match="hypotheses"):
        session.run()
    finished = journaled[-1]
    assert finished["outcome"] == "failed" and "internal error: KeyError" in finished["reason"]
    down = ResearchSession(
        brief(), _Agent(LLMError("explore: HTTP 503"), ("explore",)), None, emit, tmp_path
    )  # type: ignore[arg-type]
    assert down.run().outcome == "failed"
    assert journaled[-1]["reason"] == "LLMError: explore: HTTP 503"


def test_a_research_session_bug_fails_the_study_after_it_is_journaled(tmp_path: Path) -> None:
    from orchestrator.level2.research.wiring import make_level2
    from sandbox.client import make_client

    config = StudyConfig.from_dict(
        {
            "name": "research-bug",
            "iterations": 6,
            "objective": BENCH,
            "levels": {"policy": False, "research": True, "research_every": 1, "stagnation": 1},
        }
    )
    agent = _Agent(TypeError("explore() takes 1 positional argument"), ("explore",))
    host, driver = make_level2(
        config, tmp_path / "run", client=make_client("direct", "process"), agent=agent
    )
    with pytest.raises(RuntimeError, match="research session crashed on a bug: TypeError"):
        run_study(config, tmp_path / "run", mechanism_host=host, research=driver, agent=agent)
    finished = [e for e in read_events(tmp_path / "run") if e.type == "research_finished"]
    assert finished and finished[0].reason == "internal error: TypeError"
