# expect: loads shared libraries
# numpy.ctypeslib builds arrays from ctypes pointers (and loads libraries).
from numpy.ctypeslib import as_array

from sandbox.api import Guidance, Mechanism


class Cast(Mechanism):
    name = "cast"

    def guide(self, ctx):
        return Guidance(hint=str(as_array))
