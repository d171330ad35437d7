"""Levels 1 and 1.5 and the seams Level 2 plugs into (mechanism host, research driver)."""

from orchestrator.levels.hooks import (
    BoundaryUpdate,
    HookOutcome,
    MechanismHost,
    NoopMechanismHost,
    NoopResearchDriver,
    ResearchDriver,
    research_trigger,
)
from orchestrator.levels.policy import SearchPolicy

__all__ = [
    "BoundaryUpdate",
    "HookOutcome",
    "MechanismHost",
    "NoopMechanismHost",
    "NoopResearchDriver",
    "ResearchDriver",
    "SearchPolicy",
    "research_trigger",
]
