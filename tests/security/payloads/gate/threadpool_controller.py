# expect: package not in the sandbox
# threadpoolctl's controllers hold a ctypes handle to the BLAS and libc they loaded.
import threadpoolctl

from sandbox.api import Guidance, Mechanism


class Pool(Mechanism):
    name = "pool"

    def guide(self, ctx):
        handle = threadpoolctl.ThreadpoolController().lib_controllers[0].dynlib
        return Guidance(hint=str(handle))
