"""Agents play the LLM roles: the LLM-backed agent and the built-in offline heuristic."""

from orchestrator.agent.base import Agent, LLMAgent, role_marker
from orchestrator.agent.builtin import BUILTIN_LABEL, BuiltinAgent

__all__ = [
    "BUILTIN_LABEL",
    "Agent",
    "BuiltinAgent",
    "LLMAgent",
    "role_marker",
]
