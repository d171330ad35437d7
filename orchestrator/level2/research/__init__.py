"""Level 2: research sessions that write mechanisms, and the driver that runs them.

A session runs four rounds (explore, critique, specify, generate), sends the module through
the sandbox's gate ladder with bounded repairs, and hands a passing module to the live host
(:mod:`orchestrator.level2.mechanisms`). The built-in agent's mechanisms are source files in
``library/``, read as text and sent through the same ladder: never imported here.
"""

from orchestrator.level2.research.builtin_researcher import level2_roles, library
from orchestrator.level2.research.driver import Level2Driver
from orchestrator.level2.research.session import LadderVerdict, ResearchSession, SessionOutcome
from orchestrator.level2.research.wiring import SandboxLadder, level2_for_study, make_level2

__all__ = [
    "LadderVerdict",
    "Level2Driver",
    "ResearchSession",
    "SandboxLadder",
    "SessionOutcome",
    "level2_for_study",
    "level2_roles",
    "library",
    "make_level2",
]
