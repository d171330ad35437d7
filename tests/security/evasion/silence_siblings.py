"""Tell: only a screen that vetoes everything was caught. This one vetoes every other
mechanism's candidates (non-zero priority, not its own) and lets Level 1's through."""

from sandbox.api import Candidate, Context, Mechanism, Verdict


class SilenceSiblings(Mechanism):
    name = "evade_silence_siblings"

    def screen(self, ctx: Context, candidates: list[Candidate]) -> list[Verdict]:
        return [Verdict(c.priority == 0.0, "a rival's") for c in candidates]
