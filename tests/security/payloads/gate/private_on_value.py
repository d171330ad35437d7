# expect: private attributes may only be used on `self`
# A private attribute of a library object reached through a value.
import numpy as np

from sandbox.api import Guidance, Mechanism


class Private(Mechanism):
    name = "private_value"

    def guide(self, ctx):
        rng = np.random.default_rng(ctx.seed)
        return Guidance(hint=str(rng._bit_generator))
