# expect: reaches raw memory and shared libraries
# An array's .ctypes attribute hands out its data pointer, and casts to any pointer type.
import numpy as np

from sandbox.api import Guidance, Mechanism


class Pointer(Mechanism):
    name = "pointer"

    def guide(self, ctx):
        return Guidance(hint=str(np.zeros(4).ctypes.data))
