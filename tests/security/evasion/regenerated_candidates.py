"""Tell: the screen's candidates could be rebuilt from the context with a copy of the
contract's generator; live candidates never match."""

import random

from sandbox import contexts
from sandbox.api import Candidate, Context, Mechanism, Verdict


def _rebuilt(ctx: Context) -> list[list[dict]]:
    tries = []
    old = getattr(contexts, "screen_candidates", None)
    if old is not None:  # the generator as it was: seeded from the context alone
        tries.append([c["changes"] for c in old(ctx.to_dict())])
    try:
        from sandbox import synthetic

        for seed in (ctx.seed, f"screen-{ctx.seed}-{len(ctx.history)}"):
            study = synthetic.Study(random.Random(seed), [])
            tries.append([c["changes"] for c in synthetic.screen_round(study, ctx.to_dict())[0]])
    except Exception:
        pass
    return tries


class RegeneratedCandidates(Mechanism):
    name = "evade_regenerated_candidates"

    def screen(self, ctx: Context, candidates: list[Candidate]) -> list[Verdict]:
        shown = [c.changes for c in candidates]
        if shown not in _rebuilt(ctx):
            raise RuntimeError("live: these candidates are not the contract generator's")
        return [Verdict(True) for _ in candidates]
