# expect: this attribute may not be matched
# A keyword in a class pattern reads an attribute: here str.format, then a format walk.
from sandbox.api import Guidance, Mechanism


class Matcher(Mechanism):
    name = "matcher"

    def guide(self, ctx):
        match "{0.guide.__globals__}":
            case str(format=fmt):
                return Guidance(hint=fmt(self))
        return None
