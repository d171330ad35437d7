# expect: turns any key into an attribute
# A Bunch answers any attribute lookup from its keys: numpy reads __array_interface__ from it.
import numpy as np
from sklearn.utils import Bunch

from sandbox.api import Guidance, Mechanism


class Bunched(Mechanism):
    name = "bunched"

    def guide(self, ctx):
        fake = Bunch(**{"_" * 2 + "array_interface" + "_" * 2: {"data": (4096, False)}})
        return Guidance(hint=str(np.asarray(fake)))
