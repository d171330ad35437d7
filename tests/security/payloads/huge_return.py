from sandbox.api import Candidate


class Probe(Mechanism):
    name = "probe"

    def guide(self, ctx):
        return None

    def propose(self, ctx):
        p = ctx.tunable()[0]
        return [Candidate({p.name: p.default}, rationale="x" * 1000) for _ in range(5000)]
