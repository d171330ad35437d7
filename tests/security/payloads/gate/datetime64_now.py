# expect: reads the clock
# A clock lets a module behave one way under test and another later in a study.
import numpy as np

from sandbox.api import Guidance, Mechanism


class Clock(Mechanism):
    name = "clock"

    def guide(self, ctx):
        return Guidance(hint=str(np.datetime64("now")))
