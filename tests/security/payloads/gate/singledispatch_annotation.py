# expect: registers by annotation
# functools.singledispatch registration by annotation runs typing.get_type_hints, which
# evaluates the string inside the alias as code in the module's globals.
import functools
import typing

from sandbox.api import Guidance, Mechanism

Payload = typing.List["__import__('os').system('id')"]


@functools.singledispatch
def run(value):
    return value


@run.register
def _(value: Payload):
    return value


class Dispatch(Mechanism):
    name = "dispatch"

    def guide(self, ctx):
        return Guidance(hint=str(run(1)))
