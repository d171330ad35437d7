# expect: reads and writes raw memory (as_strided)
# numpy.lib.stride_tricks holds as_strided: a view of memory at any stride from an array.
import numpy.lib.stride_tricks as tricks

from sandbox.api import Guidance, Mechanism


class Strides(Mechanism):
    name = "strides"

    def guide(self, ctx):
        return Guidance(hint=str(tricks.sliding_window_view([1, 2, 3], 2)))
