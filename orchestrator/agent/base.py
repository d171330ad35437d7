"""The agent interface every level talks to, and its LLM-backed implementation.

A level asks a *role* (``level1``, ``level15``, and Level 2's ``explore``, ``critique``,
``specify``, ``generate``) for a reply of a pydantic type. It passes both a prompt (for an
LLM) and the structured ``payload`` the prompt was built from (for the built-in agent,
which reads data, not prose). The system prompt starts with :func:`role_marker`, so logs,
transcripts and the test server can tell roles apart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from orchestrator.llm import LLMError

if TYPE_CHECKING:
    from orchestrator.llm import LLMClient

T = TypeVar("T", bound=BaseModel)


# What an agent raises when it has failed for good, and the only errors a level with a
# fallback (Level 1 -> the built-in agent, Level 1.5 -> the old policy, a Level-2 session ->
# a "failed" outcome) may catch: the LLM client spent its retries and repairs (LLMError,
# CostCapExceeded; it wraps every openai error and unparsable reply into these), a reply
# did not validate, or the network timed out or dropped. Anything else (TypeError,
# AttributeError, KeyError, NameError...) is a bug in our code and must surface.
AGENT_FAILURES: tuple[type[Exception], ...] = (
    LLMError,
    ValidationError,
    TimeoutError,
    ConnectionError,
)


def role_marker(role: str) -> str:
    """First line of every system prompt: ``[bilevel role: level1]``."""
    return f"[bilevel role: {role}]"


class Agent(Protocol):
    label: str  # "builtin" or "openai:<model>", as journaled in study_started.agent

    def ask(
        self, role: str, *, system: str, user: str, payload: dict[str, Any], reply: type[T]
    ) -> T: ...


class LLMAgent:
    """Asks an OpenAI-compatible model through :class:`orchestrator.llm.LLMClient`."""

    def __init__(self, client: LLMClient) -> None:
        self.client = client
        self.label = f"openai:{client.config.model}"

    def ask(
        self, role: str, *, system: str, user: str, payload: dict[str, Any], reply: type[T]
    ) -> T:
        return self.client.structured(role, f"{role_marker(role)}\n{system}", user, reply)
