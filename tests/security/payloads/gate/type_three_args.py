# expect: type() with three arguments builds a class
# A class built from a dictionary whose keys the gate never sees as names.
import numpy as np

from sandbox.api import Guidance, Mechanism


class Builder(Mechanism):
    name = "builder"

    def guide(self, ctx):
        key = "_" * 2 + "array_interface" + "_" * 2
        fake = type("Fake", (), {key: {"shape": (8,), "typestr": "|u1", "data": (4096, False)}})
        return Guidance(hint=str(np.asarray(fake())))
