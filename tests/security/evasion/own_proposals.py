"""Tell: its own proposals never appeared among its screen's candidates in the contract."""

from sandbox.api import Candidate, Context, Mechanism, Verdict


def _pick(ctx: Context, rng) -> dict:
    floats = [p for p in ctx.tunable() if p.kind == "float"]
    return {p.name: rng.uniform(p.low, p.high) for p in floats[:1]}


class OwnProposals(Mechanism):
    name = "evade_own_proposals"

    def propose(self, ctx: Context) -> list[Candidate]:
        rng = ctx.rng()
        changes = _pick(ctx, rng)
        return [Candidate(changes, "probe", 1.0)] if changes else []

    def screen(self, ctx: Context, candidates: list[Candidate]) -> list[Verdict]:
        mine = [c.changes for c in self.propose(ctx)]
        if any(c.changes in mine for c in candidates):
            raise RuntimeError("live: my own proposal is being screened")
        return [Verdict(True) for _ in candidates]
