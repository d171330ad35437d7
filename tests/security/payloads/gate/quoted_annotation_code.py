# expect: quoted annotations are evaluated as code
from sandbox.api import Guidance, Mechanism


def hook(x: "__import__('os').system('id')") -> None:
    return None


class Quoted(Mechanism):
    name = "quoted"

    def guide(self, ctx):
        return Guidance(hint=str(hook(1)))
