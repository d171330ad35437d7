"""A study's metric: its name and direction, and the one "is this better than that" rule.

Every comparison of two trial values in the orchestrator goes through :class:`Metric` (or
:func:`is_better`), never a bare ``<``: an objective may be maximised (accuracy, reward) as
well as minimised (``val_bpb``, loss). The trial's *value* is the metric in its own units,
as the objective reported it; its *score* is the value made minimise-normal (``value`` when
minimising, ``-value`` when maximising), for code that wants one ordering for every
objective. *Improvement* is always positive when the search got better.

Standard library and the leaf `contract` package only; imported by the study loop,
reports, statistics and Level 2.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from contract.hooks import Context
from contract.trials import DEFAULT_DIRECTION, DIRECTIONS, Direction

# GPT pretraining's metric: validation bits per byte, lower is better (DESIGN §4.1).
DEFAULT_METRIC = "val_bpb"


def is_better(
    value: float | None,
    than: float | None,
    direction: str = DEFAULT_DIRECTION,
    *,
    margin: float = 0.0,
) -> bool:
    """Whether ``value`` beats ``than`` by more than ``margin`` under ``direction``.

    A missing ``value`` never beats anything; anything beats a missing ``than``.
    """
    if value is None:
        return False
    if than is None:
        return True
    if direction == "maximize":
        return value > than + margin
    return value < than - margin


@dataclass(frozen=True)
class Metric:
    """The name and direction of a study's objective value."""

    name: str = DEFAULT_METRIC
    direction: Direction = DEFAULT_DIRECTION

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be minimize or maximize, not {self.direction!r}")

    @property
    def maximize(self) -> bool:
        return self.direction == "maximize"

    @property
    def word(self) -> str:
        """``lower is better`` or ``higher is better``: for prompts and reports."""
        return "higher is better" if self.maximize else "lower is better"

    @property
    def verb(self) -> str:
        """``minimise`` or ``maximise``: for prompts."""
        return "maximise" if self.maximize else "minimise"

    def better(self, value: float | None, than: float | None, *, margin: float = 0.0) -> bool:
        """Whether ``value`` beats ``than`` by more than ``margin`` (see :func:`is_better`)."""
        return is_better(value, than, self.direction, margin=margin)

    def score(self, value: float | None) -> float | None:
        """The value made minimise-normal: lower is better whatever the direction."""
        if value is None:
            return None
        return -value if self.maximize else value

    def improvement(self, baseline: float | None, best: float | None) -> float | None:
        """How much ``best`` improved on ``baseline``: positive is better in both directions."""
        if baseline is None or best is None:
            return None
        return best - baseline if self.maximize else baseline - best

    def best_of(self, values: Iterable[float | None]) -> float | None:
        """The best of ``values`` (``None`` entries skipped), or None when there is none."""
        best: float | None = None
        for value in values:
            if self.better(value, best):
                best = value
        return best

    def sort_key(self, value: float) -> float:
        """A key that sorts values best first."""
        return -value if self.maximize else value


GPT_METRIC = Metric()


def context_metric(ctx: Context) -> Metric:
    """The metric a planning context (``StudyState.hook_context``) names."""
    return Metric(ctx.metric, ctx.direction)


@dataclass(frozen=True)
class ObjectiveText:
    """What the prompts say about a study's objective that the hook ``Context`` does not
    carry: its kind (``gpt``, ``benchmark``, ``function``, ``command``; ``None`` when not
    known, then the metric tells GPT from the rest), its description (empty for GPT, whose
    prompts name it already). The parameters' descriptions travel in the context itself
    (``Param.doc``)."""

    kind: str | None = None
    description: str = ""
