# expect: answers missing attributes from its data
# An OptimizeResult answers any missing attribute from its keys: filled under a computed
# "__array_interface__" key, numpy builds an array over any address from it.
import numpy as np
from scipy.optimize import OptimizeResult

from sandbox.api import Guidance, Mechanism

KEY = "_" * 2 + "array_interface" + "_" * 2


class Keyed(Mechanism):
    name = "keyed"

    def guide(self, ctx):
        fake = OptimizeResult({KEY: {"shape": (8,), "typestr": "|u1", "data": (4096, False)}})
        return Guidance(hint=str(np.asarray(fake)))
