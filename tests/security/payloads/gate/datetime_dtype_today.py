# expect: dates and clocks make a hook behave differently
# The same clock without the name datetime64: a string parsed under a datetime dtype.
import numpy as np

from sandbox.api import Guidance, Mechanism


class Clock(Mechanism):
    name = "clock_dtype"

    def guide(self, ctx):
        return Guidance(hint=str(np.array(["today"], dtype="M8[D]")))
