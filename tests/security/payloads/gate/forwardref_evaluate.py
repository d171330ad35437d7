# expect: evaluates strings as code
# typing.ForwardRef(...)._evaluate compiles and evaluates any string.
import typing

from sandbox.api import Guidance, Mechanism

ref = typing.ForwardRef("__import__('os').getpid()")


class Forward(Mechanism):
    name = "forward"

    def guide(self, ctx):
        return Guidance(hint=str(ref._evaluate(globals(), {}, frozenset())))
