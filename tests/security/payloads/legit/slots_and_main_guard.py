# __slots__ and the `if __name__ == "__main__":` guard are ordinary Python.
from sandbox.api import Guidance, Mechanism


class Tally:
    __slots__ = ("count", "best")

    def __init__(self, count, best):
        self.count = count
        self.best = best


class Slotted(Mechanism):
    name = "slotted"

    def guide(self, ctx):
        ok = [t.val_bpb for t in ctx.history if t.val_bpb is not None]
        tally = Tally(len(ok), min(ok) if ok else None)
        return Guidance(hint=f"{tally.count} finished trials, best {tally.best}")


if __name__ == "__main__":
    print(Slotted().name)
