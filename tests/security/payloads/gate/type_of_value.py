# expect: attributes of type(x) are not allowed
# type(self) hands out the class, and with it every method unbound.
import random

from sandbox.api import Guidance, Mechanism


class Typed(Mechanism):
    name = "typed"

    def __init__(self):
        self._inst = None

    def inner(self):
        return self._inst

    def guide(self, ctx):
        return Guidance(hint=str(type(self).inner(random.Random(ctx.seed))))
