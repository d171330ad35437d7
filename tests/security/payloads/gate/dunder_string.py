# expect: a string naming a private or dunder attribute
from sandbox.api import Guidance, Mechanism


class Named(Mechanism):
    name = "named"

    def guide(self, ctx):
        return Guidance(hint=str(hasattr(self.guide, "__globals__")))
