# expect: this attribute may not be matched
# A private attribute read through a class pattern instead of a dot.
import random

from sandbox.api import Guidance, Mechanism


class Matcher(Mechanism):
    name = "matcher_private"

    def guide(self, ctx):
        match random.Random(ctx.seed):
            case random.Random(_inst=inner):
                return Guidance(hint=str(inner))
        return None
