# expect: answers missing attributes from its data
# FrozenEstimator hands any missing attribute on to the object it wraps: a proxy whose
# lookups the gate cannot follow.
from sklearn.frozen import FrozenEstimator

from sandbox.api import Guidance, Mechanism


class Proxy(Mechanism):
    name = "proxy"

    def guide(self, ctx):
        return Guidance(hint=str(FrozenEstimator(ctx).trials))
