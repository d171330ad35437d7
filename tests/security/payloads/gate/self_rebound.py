# expect: private attributes may only be used on `self`
# `self` rebound to a foreign object inside a method.
import random

from sandbox.api import Guidance, Mechanism


class Rebound(Mechanism):
    name = "rebound"

    def __init__(self):
        self._inst = None

    def guide(self, ctx):
        self = random.Random(ctx.seed)
        return Guidance(hint=str(self._inst))
