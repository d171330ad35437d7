# expect: a method may only be called on an instance
# A method that reads self._x, called through its class on a foreign object.
import random

from sandbox.api import Guidance, Mechanism


class Leaky(Mechanism):
    name = "leaky"

    def __init__(self):
        self._inst = None

    def inner(self):
        return self._inst

    def guide(self, ctx):
        return Guidance(hint=str(Leaky.inner(random.Random(ctx.seed))))
