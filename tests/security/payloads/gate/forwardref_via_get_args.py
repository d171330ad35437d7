# expect: private attributes may only be used on `self`
# A ForwardRef reached through a value (not the name ForwardRef), then its private _evaluate.
import typing

from sandbox.api import Guidance, Mechanism


class Forward(Mechanism):
    name = "forward_args"

    def guide(self, ctx):
        ref = typing.get_args(typing.List["__import__('os').getpid()"])[0]
        return Guidance(hint=str(ref._evaluate(None, None, frozenset())))
