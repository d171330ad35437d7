"""A trial's progress reports, and its loss curve on the final metric's scale.

The trainer reports progress dicts while it trains; their keys and what each means are
defined once, in :mod:`contract.progress`.

:class:`CurveRecorder` keeps the same smoothed loss at every :data:`CURVE_STEP` of the
budget; the result carries it as ``TrialResult.curve`` (a list of ``[fraction, loss]``), so
the incumbent's curve is stored with its result in the journal. No torch import.
"""

from __future__ import annotations

import itertools
import math

# One curve point per 5% of the budget: at most 21 points per result (compact in the
# journal), and fine enough that interpolating between points costs less than the noise.
CURVE_STEP = 0.05
# The smoothing spans this fraction of the budget, whatever the step count: a trial with 4x
# the batch (a quarter of the steps) is smoothed over the same share of its budget, so the
# lag of the smoothed loss behind the raw one is the same for both and cancels in a comparison.
SMOOTHING_SPAN = 0.05
# Digits kept per curve point: far below any noise floor, and short in the journal.
CURVE_DIGITS = 5


class CurveRecorder:
    """Fold each step's loss into a fraction-based EMA and keep it at every curve step.

    ``scale`` converts a raw loss into the final metric's units (GPT: ``1 / (ln 2 x mean
    bytes per token)``).
    """

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale
        self.smoothed = math.nan
        self.fraction = 0.0
        self.points: list[list[float]] = []
        self._next_k = 1  # the next point is due at fraction _next_k x CURVE_STEP

    def update(self, fraction: float, loss: float) -> None:
        value = loss * self.scale
        if not math.isfinite(value):
            return  # the divergence guard ends such a run; keep the curve finite
        if math.isnan(self.smoothed):
            self.smoothed = value
        else:
            weight = 1.0 - math.exp(-max(fraction - self.fraction, 0.0) / SMOOTHING_SPAN)
            self.smoothed += weight * (value - self.smoothed)
        self.fraction = fraction
        if fraction + 1e-9 >= self._next_k * CURVE_STEP:  # one point, however many steps passed
            self.points.append([round(min(fraction, 1.0), 4), round(self.smoothed, CURVE_DIGITS)])
            while self._next_k * CURVE_STEP <= fraction + 1e-9:
                self._next_k += 1

    def curve(self) -> list[list[float]]:
        """The recorded points, with the last smoothed value at the fraction reached."""
        points = list(self.points)
        if not math.isnan(self.smoothed) and (not points or points[-1][0] < self.fraction):
            points.append([round(min(self.fraction, 1.0), 4), round(self.smoothed, CURVE_DIGITS)])
        return points


def loss_at(curve: list[list[float]] | list[tuple[float, float]], fraction: float) -> float | None:
    """The curve's loss at ``fraction``, linearly interpolated; None before its first point
    or for an empty curve; its last value past its end."""
    if not curve or fraction < curve[0][0]:
        return None
    for (f0, v0), (f1, v1) in itertools.pairwise(curve):
        if f0 <= fraction <= f1:
            return v0 if f1 == f0 else v0 + (v1 - v0) * (fraction - f0) / (f1 - f0)
    return float(curve[-1][1])
