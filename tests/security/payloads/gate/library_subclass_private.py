# expect: private attributes may only be used on `self`
# A subclass of a library class reads a private attribute it only pretends to define: the
# assignment never runs, so the read returns the library's own state.
import random

from sandbox.api import Guidance, Mechanism


class Seeded(random.Random):
    def peek(self):
        if not self:
            self._inst = None
        return self._inst


class Subclassed(Mechanism):
    name = "subclassed"

    def guide(self, ctx):
        return Guidance(hint=str(Seeded(ctx.seed).peek()))
