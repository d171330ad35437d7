"""Agents play the LLM roles: the LLM-backed agent and the built-in offline heuristic."""

from orchestrator.agent.base import Agent, LLMAgent, role_marker
from orchestrator.agent.builtin import BUILTIN_LABEL, BuiltinAgent, register_builtin_role

__all__ = [
    "BUILTIN_LABEL",
    "Agent",
    "BuiltinAgent",
    "LLMAgent",
    "register_builtin_role",
    "role_marker",
]
