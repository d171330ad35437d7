"""A `function` objective for the breaker tests: instant trials, and a region that diverges.

A value of ``x`` above ``DIVERGES_ABOVE`` returns NaN, which the trainer records as a
`diverged` trial; elsewhere the metric is a smooth bowl with its minimum at 0.3.
"""

from __future__ import annotations

import math
from typing import Any

DIVERGES_ABOVE = 0.9


def evaluate(config: dict[str, Any], budget: Any) -> float:
    x = float(config["x"])
    y = float(config["y"])
    if x > DIVERGES_ABOVE:
        return math.nan
    return (x - 0.3) ** 2 + (y - 0.6) ** 2
