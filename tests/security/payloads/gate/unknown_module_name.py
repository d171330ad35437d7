# expect: `geometric_median` is not a public name of statistics
# A name the pinned package does not define (a lazy loader, a future version): not allowed.
import statistics

from sandbox.api import Guidance, Mechanism


class Unknown(Mechanism):
    name = "unknown_name"

    def guide(self, ctx):
        return Guidance(hint=str(statistics.geometric_median))
