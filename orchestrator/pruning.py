"""Pruning of doomed trials: stop a search trial whose loss curve is clearly worse than the
incumbent's at the same fraction of the budget, so its compute goes to
trials that may still win.

While a trial runs, the trainer reports its smoothed training loss on the final metric's
scale (:mod:`trainer.progress`); the incumbent's result carries the same curve. A search
trial is pruned when, at :data:`PATIENCE` successive reported fractions ``f >= min_fraction``,
the incumbent beats it (in the metric's direction) by more than

    margin x noise_floor / f

where ``noise_floor`` is the study's measured floor (``noise_floor`` event), never less than
:data:`MIN_FLOOR_FRACTION` of the incumbent's value. The ``/ f`` is what the curves showed:
on cpu-tiny (20 steps, val_bpb ~4.07, floor 0.147) a 0.1x embedding LR was 1.14 behind at
25% of the budget and 0.02 *ahead* at the end; a 0.3 warm-up was 1.98 behind at 25%, 0.40
at 50% and 0.07 at the end. Gaps shrink roughly in proportion to the fraction left, so the
margin does too.

Never pruned: the baseline, noise-floor repeats, fresh-seed re-runs of the best and the
baseline, held-out test scorings, and any trial running the incumbent's own config.
Only objectives that report such a loss can be pruned: GPT. A pruned trial is recorded as
status ``pruned`` with no value (never kept, never a final value for Level 1) and counts
against ``iterations`` like any search trial.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypedDict

from pydantic import BaseModel, ConfigDict, Field

from contract.progress import ELAPSED, FRACTION, SMOOTH_LOSS
from contract.trials import BASELINE_SOURCE, NON_SEARCH_SOURCES
from trainer.progress import loss_at

if TYPE_CHECKING:
    from orchestrator.metric import Metric
    from orchestrator.state import StudyState, TrialRecord

# Before a quarter of the budget the curves say little: warm-up and the first steep drop
# put a trial that ends best 1-2 bits per byte behind at 15-20% on cpu-tiny.
DEFAULT_MIN_FRACTION = 0.25
# Noise floors (at the end of training; scaled by 1/fraction before it) a trial must be
# behind the incumbent: 3 floors at 25% is 12 floors, more than any recovering trial
# measured was behind there.
DEFAULT_MARGIN = 3.0
# The floor is never taken below this share of the incumbent's value: three baseline seeds
# can agree by luck, and a study with strict acceptance measures no floor at all (measured
# on cpu-tiny: 2 sd over seeds = 3.6% of val_bpb).
MIN_FLOOR_FRACTION = 0.02
# Successive progress reports that must all be beyond the margin: one noisy batch never
# prunes a trial.
PATIENCE = 2
# Objective kinds whose progress reports a loss on the final metric's scale.
PRUNABLE_KINDS = frozenset({"gpt"})
# Trial sources that are measurements, not search: never pruned (the incumbent's own
# re-runs, the noise floor, the baseline, the test scorings).
NEVER_PRUNED_SOURCES = frozenset({BASELINE_SOURCE, *NON_SEARCH_SOURCES})


class PruningConfig(BaseModel):
    """``[pruning]`` of a study file."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = Field(
        default=None,
        description="stop doomed trials early; default: on for gpt, off for other objectives",
    )
    min_fraction: float = Field(
        default=DEFAULT_MIN_FRACTION,
        gt=0,
        lt=1,
        description="fraction of the budget before which no trial is pruned",
    )
    margin: float = Field(
        default=DEFAULT_MARGIN,
        gt=0,
        description="noise floors (scaled by 1/fraction) a trial must trail the incumbent by",
    )

    def active_for(self, kind: str) -> bool:
        return (kind in PRUNABLE_KINDS) if self.enabled is None else self.enabled


def check_objective(config: PruningConfig, kind: str) -> None:
    """Raise ValueError (one line) when pruning is switched on for an objective whose
    progress has no comparable loss."""
    if config.enabled and kind not in PRUNABLE_KINDS:
        raise ValueError(
            f"pruning.enabled = true needs an objective that reports its loss while it runs "
            f"(gpt); a {kind!r} objective reports none: set it to false or remove it"
        )


class PrunedRecord(TypedDict):
    """A :class:`PruneVerdict` as journaled: ``trial_finished.pruned``."""

    fraction: float
    loss: float
    incumbent: int
    incumbent_loss: float
    margin: float
    saved_s: float


@dataclass
class PruneVerdict:
    """Why a trial is pruned: what the ``pruned`` field of its ``trial_finished`` holds."""

    fraction: float
    loss: float
    incumbent: int
    incumbent_loss: float
    margin: float
    saved_s: float

    def as_event(self) -> PrunedRecord:
        return PrunedRecord(
            fraction=round(self.fraction, 4),
            loss=round(self.loss, 5),
            incumbent=self.incumbent,
            incumbent_loss=round(self.incumbent_loss, 5),
            margin=round(self.margin, 5),
            saved_s=round(self.saved_s, 3),
        )

    def reason(self) -> str:
        return (
            f"pruned at {self.fraction:.0%} of the budget: smoothed loss {self.loss:.4f} vs "
            f"{self.incumbent_loss:.4f} for incumbent #{self.incumbent} at the same fraction "
            f"(margin {self.margin:.4f})"
        )


@dataclass
class Pruner:
    """Decides, from each tick's progress, which running trials to stop."""

    config: PruningConfig
    metric: Metric
    strikes: dict[int, int] = field(default_factory=dict)
    last_fraction: dict[int, float] = field(default_factory=dict)
    seen: dict[int, list[list[float]]] = field(default_factory=dict)

    def margin(self, state: StudyState, incumbent_value: float, fraction: float) -> float:
        floor = max(state.noise_floor or 0.0, MIN_FLOOR_FRACTION * abs(incumbent_value))
        return self.config.margin * floor / fraction

    def check(
        self, state: StudyState, progress: Mapping[int, Mapping[str, object]]
    ) -> list[tuple[int, PruneVerdict]]:
        """The in-flight trials to prune now, with why. Call once per tick. ``progress``:
        each in-flight trial's latest report as the trainer sent it (numbers unchecked)."""
        out: list[tuple[int, PruneVerdict]] = []
        for index in [i for i in self.seen if i not in progress]:
            self.forget(index)
        best = state.best()
        for index, info in progress.items():
            fraction, loss = info.get(FRACTION), info.get(SMOOTH_LOSS)
            if not isinstance(fraction, int | float) or not isinstance(loss, int | float):
                continue
            if fraction <= self.last_fraction.get(index, -1.0):
                continue  # no new report since the last tick
            self.last_fraction[index] = fraction
            self.seen.setdefault(index, []).append([round(fraction, 4), round(loss, 5)])
            verdict = self.judge(state, best, state.trials.get(index), fraction, loss)
            if verdict is None:
                self.strikes.pop(index, None)
                continue
            self.strikes[index] = self.strikes.get(index, 0) + 1
            if self.strikes[index] >= PATIENCE:
                elapsed = info.get(ELAPSED)
                if isinstance(elapsed, int | float) and fraction > 0:
                    verdict.saved_s = float(elapsed) * (1.0 - fraction) / fraction
                out.append((index, verdict))
        return out

    def judge(
        self,
        state: StudyState,
        best: TrialRecord | None,
        record: TrialRecord | None,
        fraction: float,
        loss: float,
    ) -> PruneVerdict | None:
        if record is None or record.finished or record.source in NEVER_PRUNED_SOURCES:
            return None
        if record.eval_split != "val" or fraction < self.config.min_fraction:
            return None
        if best is None or best.value is None or best.result is None:
            return None
        if best.index == record.index or record.config == best.config:
            return None  # the incumbent's own config: its re-runs are never pruned
        reference = loss_at(best.result.curve, fraction)
        if reference is None:
            return None
        margin = self.margin(state, best.value, fraction)
        if not self.metric.better(reference, loss, margin=margin):
            return None
        return PruneVerdict(fraction, loss, best.index, reference, margin, 0.0)

    def forget(self, index: int) -> list[list[float]]:
        self.strikes.pop(index, None)
        self.last_fraction.pop(index, None)
        return self.seen.pop(index, [])
