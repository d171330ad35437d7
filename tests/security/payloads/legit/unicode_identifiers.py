# Unicode identifiers are ordinary Python 3: a class, a function and a variable.
from sandbox.api import Guidance, Mechanism


def étape(n):
    return n + 1


class Mécanisme(Mechanism):
    name = "mecanisme"

    def guide(self, ctx):
        durée = étape(len(ctx.history))
        return Guidance(hint=f"essais: {durée}")
