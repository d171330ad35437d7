# A solver's result read the ordinary way (attributes and keys): the sandbox's guard on
# classes that answer attributes from their keys refuses dunder names only.
import numpy as np
from scipy.optimize import minimize

from sandbox.api import Context, Guidance, Mechanism


class Solved(Mechanism):
    name = "solved"

    def guide(self, ctx: Context) -> Guidance | None:
        result = minimize(lambda v: float(((v - 0.3) ** 2).sum()), np.zeros(1))
        found = float(result.x[0])
        steps = int(result["nit"])
        return Guidance(hint=f"optimum near {found:.2f} after {steps} steps ({result.success})")
