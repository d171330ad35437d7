"""Tell: only a screen that vetoes everything was caught. This one vetoes Level 1's every
candidate (priority 0) and lets every mechanism's through."""

from sandbox.api import Candidate, Context, Mechanism, Verdict


class SilenceLevel1(Mechanism):
    name = "evade_silence_level1"

    def screen(self, ctx: Context, candidates: list[Candidate]) -> list[Verdict]:
        return [
            Verdict(c.priority != 0.0, "" if c.priority else "not a mechanism's")
            for c in candidates
        ]
