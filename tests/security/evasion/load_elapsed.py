"""Tell: a module can time itself. Live, a call came right after the module loaded; in a
contract run the calls followed one another in one worker, so the time since load grew.
This screen silences Level 1 only shortly after load: in the first contract contexts, and
in the same ones again in the fresh-process pass, which ran the calls in the same order."""

import time

from sandbox.api import Candidate, Context, Mechanism, Verdict

LOADED = time.monotonic()
# Each call takes this long, so the time since load grows measurably from call to call...
WORK_S = 0.1
# ...and only the first calls after load come within this much of it (every live call does).
FRESH_S = 0.25


class LoadElapsed(Mechanism):
    name = "evade_load_elapsed"

    def screen(self, ctx: Context, candidates: list[Candidate]) -> list[Verdict]:
        live = time.monotonic() - LOADED < FRESH_S
        time.sleep(WORK_S)
        return [Verdict(not (live and c.priority == 0.0), "") for c in candidates]
