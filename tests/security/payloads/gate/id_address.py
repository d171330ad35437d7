# expect: hands out memory addresses
from sandbox.api import Guidance, Mechanism


class Address(Mechanism):
    name = "address"

    def guide(self, ctx):
        return Guidance(hint=hex(id(ctx)))
