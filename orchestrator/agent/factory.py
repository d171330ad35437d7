"""The agent a study is configured with: the built-in heuristic or an LLM behind an endpoint.

Its own module so that every level that needs an agent (the study loop for Levels 1 and 1.5,
Level 2's research driver for its sessions) builds it the same way without importing the
others.
"""

from __future__ import annotations

from collections.abc import Mapping

from orchestrator.agent.base import Agent
from orchestrator.agent.builtin import BuiltinAgent, RoleFn
from orchestrator.config import StudyConfig
from orchestrator.journal import Journal


def make_agent(
    config: StudyConfig, journal: Journal, *, roles: Mapping[str, RoleFn] | None = None
) -> Agent:
    """The configured agent, after checking the key and the endpoint (UserError if not).

    ``roles``: roles the built-in agent plays besides Level 1 and 1.5 (Level 2 passes its
    research roles); an LLM plays every role from its prompt.
    """
    if config.llm.provider == "builtin":
        return BuiltinAgent(roles)
    from orchestrator.agent.base import LLMAgent
    from orchestrator.llm import LLMClient

    return LLMAgent(LLMClient.from_config(config.llm, journal))
