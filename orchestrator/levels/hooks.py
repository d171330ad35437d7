"""The seams the study loop calls Level 2 through: the mechanism host and the research driver.

The study loop never runs mechanism code. It calls a :class:`MechanismHost` at the points
of DESIGN §4.2 "One iteration" and gets typed values back
(:mod:`orchestrator.levels.proposals`); ``ctx`` is the mechanism API's
:class:`contract.hooks.Context` as built by :meth:`orchestrator.state.StudyState.hook_context`;
only the host turns it into JSON, for the sandbox. The Level-2 engineer's host runs the hooks in the sandbox. Between trials the loop calls a :class:`ResearchDriver`, which may
run research sessions in the background (trainers never wait for them) and applies
promotions and reverts at the boundary. Both have no-op defaults used when Level 2 is off.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

# HookOutcome is re-exported: it is the seam's return type, and callers import it from here.
from contract.hooks import Context
from orchestrator.levels.proposals import HookOutcome as HookOutcome
from orchestrator.levels.proposals import Proposal, ScreenVerdict

if TYPE_CHECKING:
    from orchestrator.journal import Journal
    from orchestrator.state import StudyState


@runtime_checkable
class MechanismHost(Protocol):
    def guide(self, ctx: Context) -> HookOutcome:
        """Guidance for the Level-1 prompt, from every active mechanism."""
        ...

    def propose(self, ctx: Context) -> HookOutcome:
        """Extra candidates (changes relative to ``ctx.base``)."""
        ...

    def screen(self, ctx: Context, candidates: list[Proposal]) -> HookOutcome:
        """One verdict per candidate, in order."""
        ...

    def active(self) -> list[str]:
        """Names of the mechanisms currently active."""
        ...


class NoopMechanismHost:
    """No mechanisms: guidance empty, no candidates, everything accepted."""

    def guide(self, ctx: Context) -> HookOutcome:
        return HookOutcome()

    def propose(self, ctx: Context) -> HookOutcome:
        return HookOutcome()

    def screen(self, ctx: Context, candidates: list[Proposal]) -> HookOutcome:
        return HookOutcome(verdicts=[ScreenVerdict() for _ in candidates])

    def active(self) -> list[str]:
        return []


@dataclass
class BoundaryUpdate:
    """What a research driver applied at an iteration boundary (already journaled by it)."""

    promoted: list[str] = field(default_factory=list)
    reverted: list[str] = field(default_factory=list)


@runtime_checkable
class ResearchDriver(Protocol):
    def at_boundary(self, state: StudyState, journal: Journal) -> BoundaryUpdate:
        """Called before each trial is planned, with the live state. Must return fast:
        start sessions in the background and apply finished ones here. Promotions and
        reverts are journaled by the driver (``mechanism_promoted``/``mechanism_reverted``);
        the state picks them up from those events via :meth:`StudyState.apply`."""
        ...

    def close(self) -> None:
        """The study is over (or interrupted): stop background work."""
        ...


class NoopResearchDriver:
    def at_boundary(self, state: StudyState, journal: Journal) -> BoundaryUpdate:
        return BoundaryUpdate()

    def close(self) -> None:
        return None


def research_trigger(state: StudyState, last_session_at: int) -> str | None:
    """``cadence`` every ``levels.research_every`` finished search trials, ``stagnation``
    after ``levels.stagnation`` trials without a kept improvement, else None.

    ``last_session_at`` is the number of finished search trials when the previous session
    started (0 for none): both triggers count from there, so one stall starts one session.
    """
    levels = state.config.levels
    done = sum(1 for t in state.search_trials() if t.finished)
    since = done - last_session_at
    if since >= levels.research_every:
        return "cadence"
    if since >= levels.stagnation and state.trials_since_improvement() >= levels.stagnation:
        return "stagnation"
    return None
