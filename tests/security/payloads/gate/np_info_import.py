# expect: imports modules by name
# np.info imports any module by name and prints its documentation.
import numpy as np

from sandbox.api import Guidance, Mechanism


class Info(Mechanism):
    name = "info"

    def guide(self, ctx):
        np.info("os")
        return Guidance(hint="imported")
