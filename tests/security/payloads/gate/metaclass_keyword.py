# expect: builds classes through a custom metaclass
from sandbox.api import Guidance, Mechanism


class Meta(type):
    pass


class Helper(metaclass=Meta):
    pass


class Metaclassed(Mechanism):
    name = "metaclassed"

    def guide(self, ctx):
        return Guidance(hint=str(Helper))
