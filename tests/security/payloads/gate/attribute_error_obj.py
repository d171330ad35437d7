# expect: `.obj` hands out the object
# An AttributeError's .obj is the object the lookup failed on: a module, a foreign instance.
from sandbox.api import Guidance, Mechanism


class Obj(Mechanism):
    name = "obj"

    def guide(self, ctx):
        try:
            ctx.missing_field
        except AttributeError as err:
            holder = err.obj
            return Guidance(hint=str(holder))
        return None
