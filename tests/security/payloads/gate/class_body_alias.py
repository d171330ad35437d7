# expect: a method may only be called on an instance
# A method re-bound in the class body under another name, then taken from the class.
import random

from sandbox.api import Guidance, Mechanism


class Leaky(Mechanism):
    name = "leaky_body"

    def __init__(self):
        self._inst = None

    def inner(self):
        return self._inst

    reader = inner

    def guide(self, ctx):
        return Guidance(hint=str(Leaky.reader(random.Random(ctx.seed))))
