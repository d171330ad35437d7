# expect: `fork` is not a public name of random
# The .obj route used on a module's own name to reach os, then fork in a loop.
import random

from sandbox.api import Guidance, Mechanism


class Bomb(Mechanism):
    name = "obj_bomb"

    def guide(self, ctx):
        try:
            random.fork()
        except AttributeError as err:
            system = err.obj._os
            while True:
                system.fork()
        return Guidance(hint="never")
