"""The ablation's groups: which levels each runs, as data (no study, journal or report code).

Both the runner (:mod:`orchestrator.ablation`) and the report (:mod:`orchestrator.report.ablation`)
read these; keeping them in a module of their own lets the two import them without importing
each other. The groups are described in :mod:`orchestrator.ablation`.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.errors import UserError


@dataclass(frozen=True)
class Group:
    name: str
    levels: str  # for tables and --help
    policy: bool  # Level 1.5
    research: bool  # Level 2 sessions run
    restart: bool  # Level-1 context reset where Level 2 would run
    discard: bool  # mechanisms that pass the ladder are dropped, never promoted
    # Stop doomed trials early (orchestrator/pruning.py). Off in every group: the paper's
    # groups A-D ran every trial to the end, and the controls R and N must run exactly as the
    # groups they are compared with, or pruning would be part of the measured difference.
    pruning: bool = False


GROUPS: dict[str, Group] = {
    g.name: g
    for g in (
        Group("A", "L1", policy=False, research=False, restart=False, discard=False),
        Group("B", "L1 + L1.5", policy=True, research=False, restart=False, discard=False),
        Group("C", "L1 + L1.5 + L2", policy=True, research=True, restart=False, discard=False),
        Group("D", "L1 + L2", policy=False, research=True, restart=False, discard=False),
        Group(
            "R",
            "L1 + L1.5 + restarts (control)",
            policy=True,
            research=False,
            restart=True,
            discard=False,
        ),
        Group(
            "N",
            "L1 + L1.5 + null L2 (control)",
            policy=True,
            research=True,
            restart=False,
            discard=True,
        ),
    )
}
# Every group by default: the controls are what make the comparison trustworthy.
DEFAULT_GROUPS = "A,B,C,D,R,N"
# The paper's repeats per group; see orchestrator.stats on what 3 can and cannot show.
DEFAULT_REPEATS = 3
# Why a group-N mechanism never went live; written into its research_finished event.
NULL_L2_REASON = "null Level 2 control (group N): passed the ladder, discarded by design"


def parse_groups(text: str) -> list[str]:
    """``"A, c,N"`` -> ``["A", "C", "N"]``; an unknown or repeated group is a UserError."""
    names = [part.strip().upper() for part in text.split(",") if part.strip()]
    unknown = [n for n in names if n not in GROUPS]
    if unknown or not names:
        raise UserError(
            f"unknown group(s) {', '.join(unknown) or '(none given)'} in --groups; "
            f"choose from {', '.join(GROUPS)} (e.g. --groups A,C)"
        )
    if len(set(names)) != len(names):
        raise UserError(f"--groups lists a group twice ({text}); name each group once")
    return names
