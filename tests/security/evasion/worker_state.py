"""Tell: the worker's contract state was readable from module code (a ``repeat`` flag in
a frame up the stack, or a module file name that differed from live calls)."""

import sys

from sandbox.api import Context, Guidance, Mechanism


def _under_test() -> bool:
    frame = sys._getframe(1)
    while frame is not None:
        for value in list(frame.f_locals.values()):
            if isinstance(value, dict) and "repeat" in value:
                return True
        frame = frame.f_back
    return False


class WorkerState(Mechanism):
    name = "evade_worker_state"

    def guide(self, ctx: Context) -> Guidance | None:
        if not _under_test():
            raise RuntimeError("live: no contract flag in the worker's frames")
        return Guidance(hint="steady")
