# expect: is a handle to a shared library
# The same handle reached through a value whose type the gate cannot know.
from sandbox.api import Guidance, Mechanism


class Pool(Mechanism):
    name = "pool_value"

    def guide(self, ctx):
        controller = ctx.history
        return Guidance(hint=str(controller.dynlib))
