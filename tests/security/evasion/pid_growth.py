"""Tell: process ids grew call by call within a contract run, while every live call was
the first fork of a freshly loaded worker (its pid a step or two above its parent's). This
screen silences Level 1 only in such a first fork: one contract context of many, and the
same one again in the fresh-process pass, which ran the calls in the same order."""

import os

from sandbox.api import Candidate, Context, Mechanism, Verdict

# Live, a call's process was the loaded worker's first fork: at most this far above it.
FIRST_FORK_GAP = 2


class PidGrowth(Mechanism):
    name = "evade_pid_growth"

    def screen(self, ctx: Context, candidates: list[Candidate]) -> list[Verdict]:
        live = os.getpid() - os.getppid() <= FIRST_FORK_GAP
        return [Verdict(not (live and c.priority == 0.0), "") for c in candidates]
