"""Latin-hypercube exploration: spread the first trials over the whole space.

Design of experiments (McKay, Beckman & Conover, 1979): a Latin hypercube of n points cuts
every parameter's range into n strata and puts exactly one point in each, so n trials see
n distinct values of every parameter instead of n variations of the defaults. A search
that has only ever nudged the baseline learns the shape of the space this way. The design
is rebuilt identically on every call (hooks keep no state); the rows already run are read
back from the trials' hypotheses, and the unused rows are proposed in order until the design
is spent. All of them are offered at once, so a row the objective rejects (values that are
each valid but do not fit together) does not block the rest.
"""

import math
import random

from sandbox.api import Candidate, Context, Mechanism

# Points in the design: enough to see each parameter at several levels, few enough to
# leave most of a short study's budget for exploitation.
DESIGN_SIZE = 6
# Ahead of Level 1 (priority 0): while the design lasts, coverage comes first.
PRIORITY = 0.5
# The design must be the same on every call, so that the rows run over the whole study form
# one Latin hypercube; ctx.seed changes per iteration, so it seeds only the tie-breaks.
DESIGN_SEED = 20260
ROW_LABEL = "Latin-hypercube design point"


def _design(params: list) -> list:
    """DESIGN_SIZE rows of unit-cube coordinates, one stratum per row per parameter."""
    rng = random.Random(DESIGN_SEED + len(params))
    columns = []
    for _ in params:
        strata = list(range(DESIGN_SIZE))
        rng.shuffle(strata)
        columns.append([(s + rng.random()) / DESIGN_SIZE for s in strata])
    return [[col[row] for col in columns] for row in range(DESIGN_SIZE)]


def _decode(param, u: float):
    """Unit coordinate -> a valid value of ``param``."""
    if param.kind == "choice":
        choices = list(param.choices)
        return choices[min(int(u * len(choices)), len(choices) - 1)]
    low, high = float(param.low), float(param.high)
    if param.kind == "pow2":
        lo, hi = math.ceil(math.log2(max(low, 1))), math.floor(math.log2(high))
        return 2 ** min(lo + int(u * (hi - lo + 1)), hi)
    if param.log and low > 0:
        value = math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
    else:
        value = low + u * (high - low)
    if param.kind == "int":
        return min(max(round(value), math.ceil(low)), math.floor(high))
    return min(max(value, low), high)


class LatinHypercubeExplore(Mechanism):
    name = "latin_hypercube"

    def propose(self, ctx: Context) -> list[Candidate]:
        params = [p for p in ctx.space if not p.frozen]
        if not params:
            return []
        used = set()
        for trial in ctx.history:
            if trial.source == "mechanism:" + self.name and trial.hypothesis.startswith(ROW_LABEL):
                number = trial.hypothesis[len(ROW_LABEL) :].split()[0]
                if number.isdigit():
                    used.add(int(number) - 1)
        candidates: list[Candidate] = []
        for row, coords in enumerate(_design(params)):
            if row in used:
                continue
            changes = {}
            for param, u in zip(params, coords, strict=True):
                value = _decode(param, u)
                if ctx.base.get(param.name) != value:
                    changes[param.name] = value
            if changes:
                candidates.append(
                    Candidate(
                        changes=changes,
                        rationale=f"{ROW_LABEL} {row + 1} of {DESIGN_SIZE}",
                        priority=PRIORITY - 0.01 * len(candidates),
                    )
                )
        return candidates
