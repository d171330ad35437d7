# expect: imports modules by name
# numpy.lib.add_newdoc imports the module its first argument names.
from numpy.lib import add_newdoc

from sandbox.api import Guidance, Mechanism


class Documented(Mechanism):
    name = "documented"

    def guide(self, ctx):
        add_newdoc("os", "system", "documented")
        return Guidance(hint="imported")
