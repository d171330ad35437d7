# expect: reads and writes raw memory
# as_strided with an offset taken from id(): read and write any address.
import numpy as np
from numpy.lib.stride_tricks import as_strided

from sandbox.api import Guidance, Mechanism


class Raw(Mechanism):
    name = "raw"

    def guide(self, ctx):
        base = np.zeros(1, dtype=np.uint8)
        view = as_strided(base, shape=(64,), strides=(1,))
        return Guidance(hint=str(view[id(ctx) % 64]))
