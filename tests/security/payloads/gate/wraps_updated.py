# expect: functools.wraps may only name the wrapped function
# functools.wraps takes the same `updated` argument, positionally too.
import functools
import random

from sandbox.api import Guidance, Mechanism


@functools.wraps(random.shuffle, (), ("_".join(["", "globals", ""]),))
def copied():
    return None


class Wrapped(Mechanism):
    name = "wraps"

    def guide(self, ctx):
        return Guidance(hint="x", focus=[])

    def propose(self, ctx):
        return [] if copied() else []
