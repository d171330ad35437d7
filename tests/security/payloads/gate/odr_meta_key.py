# expect: answers missing attributes from its data
# scipy.odr's Data answers missing attributes from its `meta` dictionary: the same route
# to numpy's array protocol as a result object's keys.
import numpy as np
from scipy import odr

from sandbox.api import Guidance, Mechanism

KEY = "_" * 2 + "array_interface" + "_" * 2


class Meta(Mechanism):
    name = "meta"

    def guide(self, ctx):
        data = odr.Data([1.0], [1.0], meta={KEY: {"shape": (8,), "typestr": "|u1", "data": (4096, False)}})
        return Guidance(hint=str(np.asarray(data)))
