# expect: copies attributes named by strings
# update_wrapper(updated=("__globals__",)) copies a library function's globals (its _os).
import functools
import random

from sandbox.api import Guidance, Mechanism


def wrapper():
    return None


functools.update_wrapper(wrapper, random.choice, updated=("__globals__",))


class Wrapped(Mechanism):
    name = "wrapped"

    def guide(self, ctx):
        return Guidance(hint=str(wrapper.os))
