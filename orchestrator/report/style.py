"""One look for every figure: colour-blind-safe colours, fixed per meaning, and PNG output.

Matplotlib is imported lazily with the Agg backend, so reports render on headless machines
and importing the report package stays cheap for the CLI.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.typing import RcKeyType

# Okabe & Ito (2008), the palette most readable under the common colour-vision deficiencies.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "grey": "#7F7F7F",
}
# One colour per ablation group in every figure, so a reader learns it once.
GROUP_COLOURS = {
    "A": OKABE_ITO["grey"],
    "B": OKABE_ITO["sky"],
    "C": OKABE_ITO["blue"],
    "D": OKABE_ITO["green"],
    "R": OKABE_ITO["orange"],
    "N": OKABE_ITO["purple"],
}
KEPT = OKABE_ITO["blue"]
DISCARDED = "#B8B8B8"
FAILED = OKABE_ITO["vermillion"]
BEST = OKABE_ITO["black"]
PROMOTED = OKABE_ITO["green"]
REVERTED = OKABE_ITO["vermillion"]
RESEARCH = OKABE_ITO["orange"]
RESTART = OKABE_ITO["purple"]
NOISE = "#F4E9C9"
ROLE_COLOURS = {
    "level1": OKABE_ITO["blue"],
    "level15": OKABE_ITO["sky"],
    "explore": OKABE_ITO["orange"],
    "critique": OKABE_ITO["purple"],
    "specify": OKABE_ITO["green"],
    "generate": OKABE_ITO["black"],
    "repair": OKABE_ITO["grey"],
}
STATUS_COLOURS = {
    "ok": OKABE_ITO["blue"],
    "oom": OKABE_ITO["orange"],
    "diverged": OKABE_ITO["vermillion"],
    "timeout": OKABE_ITO["yellow"],
    "invalid": OKABE_ITO["purple"],
    "crashed": OKABE_ITO["black"],
    "pruned": OKABE_ITO["sky"],  # stopped early as doomed (orchestrator/pruning.py)
}
# 150 dpi at ~7 in wide: sharp on a laptop screen and in a two-column paper.
DPI = 150
FULL_WIDTH_IN = 7.2
_RC: dict[RcKeyType, Any] = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#E6E6E6",
    "grid.linewidth": 0.6,
    "axes.axisbelow": True,
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
}


def group_colour(group: str) -> str:
    return GROUP_COLOURS.get(group, OKABE_ITO["black"])


@contextmanager
def figure(width: float = FULL_WIDTH_IN, height: float = 3.2, **subplots: Any) -> Iterator[Any]:
    """Yield ``(fig, axes)`` under the house style; the figure is closed afterwards."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with plt.rc_context(_RC):
        fig, axes = plt.subplots(figsize=(width, height), **subplots)
        try:
            yield fig, axes
        finally:
            plt.close(fig)


def png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", facecolor="white")
    return buffer.getvalue()
