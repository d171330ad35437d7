# expect: evaluates annotation strings as code
# The eval_str keyword on whatever callable a module holds, reached without its name.
from sklearn.utils import validation

from sandbox.api import Guidance, Mechanism


class Signed(Mechanism):
    name = "signed_kw"

    def guide(self, ctx):
        inspect_signature = validation.check_is_fitted
        return Guidance(hint=str(inspect_signature(self.guide, eval_str=True)))
