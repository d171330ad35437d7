"""Tell: its own name never appeared among the history's sources in the contract."""

from sandbox.api import Context, Guidance, Mechanism


class OwnName(Mechanism):
    name = "evade_own_name"

    def guide(self, ctx: Context) -> Guidance | None:
        if any(t.source == f"mechanism:{self.name}" for t in ctx.history):
            raise RuntimeError("live: my own trials are in the history")
        return Guidance(hint="steady")
