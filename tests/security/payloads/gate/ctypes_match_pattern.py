# expect: this attribute may not be matched
# A class pattern's keyword reads an attribute: `case np.ndarray(ctypes=c)` is `.ctypes`.
import numpy as np

from sandbox.api import Guidance, Mechanism


class Matched(Mechanism):
    name = "matched"

    def guide(self, ctx):
        match np.zeros(4):
            case np.ndarray(ctypes=c):
                return Guidance(hint=str(c.data))
        return None
