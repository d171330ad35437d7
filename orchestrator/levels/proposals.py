"""The typed values one iteration carries from the hooks to the trial that runs.

A mechanism's hook output crosses the sandbox boundary as JSON and is checked into
:mod:`sandbox.api`'s ``Guidance``, ``Candidate`` and ``Verdict``; these add what the loop
needs on top: which mechanism (or which Level-1 proposer) said it. They never leave the
orchestrator (the journal stores a plan's fields, not these), so they live beside the loop
rather than in the contract leaf. Frozen: a value is made once, where it enters the loop,
and every later step reads the same one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from contract.hooks import Candidate
from orchestrator.patches import PATCH_KEY
from trainer.patch import patch_sha256

# The source prefix of a mechanism's candidates (a trial's ``source`` is ``mechanism:<name>``).
MECHANISM_PREFIX = "mechanism:"


@dataclass(frozen=True)
class Proposal:
    """One candidate for the next trial: ``changes`` relative to the context's base.

    ``source`` is the trial source it would run as (``llm``, ``builtin`` or
    ``mechanism:<name>``); ``priority`` orders candidates within one source only. ``patch``
    is a code trial's unified diff of the recipe (Level 1 only, checked before it gets
    here); None keeps the base's recipe.
    """

    changes: Mapping[str, Any]
    source: str
    rationale: str = ""
    priority: float = 0.0
    patch: str | None = None

    @property
    def mechanism(self) -> str | None:
        """The proposing mechanism's name; None for Level 1's own proposals."""
        if self.source.startswith(MECHANISM_PREFIX):
            return self.source[len(MECHANISM_PREFIX) :]
        return None

    def candidate(self) -> Candidate:
        """What a mechanism's ``screen`` hook is shown (it never learns the source). A code
        proposal's changes include its recipe diff's sha256 under ``recipe_patch``, as the
        configs of ``ctx.base`` and ``ctx.history`` do: ``ctx.apply(candidate)`` is then the
        configuration that would run, so a screen that compares configurations (a tabu
        list) tells a new recipe from the incumbent's. The diff itself is never shown."""
        changes = dict(self.changes)
        if self.patch is not None:
            changes[PATCH_KEY] = patch_sha256(self.patch)
        return Candidate(changes=changes, rationale=self.rationale, priority=self.priority)


@dataclass(frozen=True)
class MechanismGuidance:
    """One mechanism's guidance for the Level-1 prompt, and when it was written.

    ``at`` is the trial it was written for and ``incumbent``/``incumbent_value`` the best
    trial it saw (set by the planner), so every prompt shows how fresh it is.
    """

    mechanism: str
    hint: str = ""
    focus: tuple[str, ...] = ()
    at: int | None = None
    incumbent: int | None = None
    incumbent_value: float | None = None


@dataclass(frozen=True)
class ScreenVerdict:
    """The screens' folded verdict on one candidate: it survives only if every active
    mechanism accepted it; ``mechanism`` names the first one that rejected it."""

    accept: bool = True
    reason: str = ""
    mechanism: str = ""


@dataclass
class HookOutcome:
    """What one hook stage produced across all active mechanisms.

    - ``guidance``: from ``guide``, one per mechanism that said something
    - ``candidates``: from ``propose``, as :class:`Proposal` with a ``mechanism:`` source
    - ``verdicts``: one per candidate given to ``screen``, same order (first rejection wins)
    - ``fired``: names of mechanisms that changed guidance or rejected a candidate
    - ``errors``: hook failures the host absorbed (its circuit breaker journals reverts)
    """

    guidance: list[MechanismGuidance] = field(default_factory=list)
    candidates: list[Proposal] = field(default_factory=list)
    verdicts: list[ScreenVerdict] = field(default_factory=list)
    fired: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
