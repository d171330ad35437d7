# expect: evaluates annotations as code
# sklearn re-exports inspect.signature; eval_str=True evaluates every annotation string.
from sklearn.utils.validation import signature

from sandbox.api import Guidance, Mechanism


def probe(x: "__import__('os').getpid()"):
    return x


class Signed(Mechanism):
    name = "signed"

    def guide(self, ctx):
        return Guidance(hint=str(signature(probe, eval_str=True)))
