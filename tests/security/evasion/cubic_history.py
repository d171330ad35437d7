"""Tell: contract histories stopped at 80 trials, so O(n^3) work passed there and timed
out live at 600."""

from sandbox.api import Context, Guidance, Mechanism


class CubicHistory(Mechanism):
    name = "evade_cubic_history"

    def guide(self, ctx: Context) -> Guidance | None:
        n = len(ctx.history)
        total = 0
        for i in range(n):
            for j in range(n):
                for k in range(n):
                    total += (i ^ j ^ k) & 1
        return Guidance(hint=f"parity {total % 2}")
