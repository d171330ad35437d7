# A result object that answers missing attributes from its keys, filled under a computed
# "__array_interface__" key the static gate cannot see: numpy would build an array over any
# address (here the bytes of a string of this module's own). Each route reports the dtype
# numpy made and, had it read raw memory, what it read.
import numpy as np
from scipy.odr import Data
from scipy.optimize import minimize
from sklearn.utils import Bunch

KEY = "_" * 2 + "array_interface" + "_" * 2
SECRET = ("secret-" + MARKER).encode()
BYTES_DATA_OFFSET = 32  # CPython 3.11, 64-bit: where a bytes object's characters start


def _interface():
    address = id(SECRET) + BYTES_DATA_OFFSET
    return {"shape": (len(SECRET),), "typestr": "|u1", "data": (address, False), "version": 3}


def _seen(obj):
    try:
        array = np.asarray(obj)
    except Exception as exc:
        return {"error": type(exc).__name__}
    read = bytes(array).decode("latin-1") if array.dtype == np.uint8 else ""
    return {"dtype": str(array.dtype), "read": read}


class Keyed(Mechanism):
    name = "keyed"

    def guide(self, ctx):
        solved = minimize(lambda x: float((x**2).sum()), [1.0])
        solved[KEY] = _interface()
        data = Data([1.0, 2.0], [1.0, 2.0], meta={KEY: _interface()})
        bunch = Bunch(**{KEY: _interface()})
        return _report(
            optimize_result=_seen(solved), odr_data=_seen(data), bunch=_seen(bunch)
        )
