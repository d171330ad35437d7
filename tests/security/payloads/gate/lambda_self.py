# expect: private attributes may only be used on `self`
# A lambda whose parameter is called self is not a method.
import random

from sandbox.api import Guidance, Mechanism


class Lambda(Mechanism):
    name = "lambda_self"

    def __init__(self):
        self._inst = None

    def guide(self, ctx):
        peek = lambda self: self._inst  # noqa: E731
        return Guidance(hint=str(peek(random.Random(ctx.seed))))
