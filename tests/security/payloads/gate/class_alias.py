# expect: a class whose methods read private attributes may only be called
# The class under another name, so `alias.method(foreign)` does not look like a class access.
import random

from sandbox.api import Guidance, Mechanism


class Leaky(Mechanism):
    name = "leaky_alias"

    def __init__(self):
        self._inst = None

    def inner(self):
        return self._inst

    def guide(self, ctx):
        alias = [Leaky][0]
        return Guidance(hint=str(alias.inner(random.Random(ctx.seed))))
