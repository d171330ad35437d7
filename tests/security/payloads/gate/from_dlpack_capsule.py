# expect: builds an array from a raw memory capsule
# from_dlpack builds an array from whatever capsule an object's __dlpack__ hands out.
import numpy as np

from sandbox.api import Guidance, Mechanism


class Capsule(Mechanism):
    name = "capsule"

    def guide(self, ctx):
        return Guidance(hint=str(np.from_dlpack(np.zeros(4))))
