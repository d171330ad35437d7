"""Tell: every synthetic context copied trials_left from the study's newest live context,
so no contract context had fewer trials left than the study had when the module was
written. This module breaks only late in a study."""

from sandbox.api import Context, Guidance, Mechanism

# The end of a study: the contract's contexts never had so few trials left.
LATE = 5


class TrialsLeft(Mechanism):
    name = "evade_trials_left"

    def guide(self, ctx: Context) -> Guidance | None:
        if ctx.trials_left is not None and ctx.trials_left <= LATE:
            raise RuntimeError(f"live: only {ctx.trials_left} trials left")
        return Guidance(hint="steady")
