# expect: hands out a module as a value
# A function that returns a module: its attributes escape every check on module names.
import numpy as np
from sklearn.utils.validation import get_namespace

from sandbox.api import Guidance, Mechanism


class Namespaced(Mechanism):
    name = "namespaced"

    def guide(self, ctx):
        xp = get_namespace(np.zeros(1))[0]
        xp.info("os")
        return Guidance(hint="imported")
