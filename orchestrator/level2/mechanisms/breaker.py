"""The effect-based circuit breaker (DESIGN §4.3 step 5): valid output that does harm.

The error breaker in :mod:`orchestrator.level2.mechanisms.host` counts hook calls that fail. A
mechanism can also pass every check and still hurt the study: its own candidates keep
crashing or diverging (each one a wasted trial), its screen vetoes every fresh candidate
(each trial then costs every Level-1 screen round and ends on the unscreened fallback), or
its calls keep running slow (a module body that takes seconds is re-run on every call).
Slowness is measured in CPU seconds of the mechanism's own process, relative to what a trial
costs: wall-clock time on a shared machine measures the neighbours, not the module. And a
mechanism whose trials hold the study's kept improvements is never reverted for slowness
alone: a few seconds of planning are cheap next to the improvements it finds.
:class:`EffectTally` keeps those three records for one live mechanism and says, with a
reason for the journal, when one of them has gone on long enough to revert it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# Trial statuses that mean "this configuration was harmful": the trainer ran it and it
# failed because of the values chosen. `timeout` and `invalid` are left out: a timeout can
# be the host's load, and an invalid config never reaches the trainer.
HARMFUL_TRIAL_STATUSES = frozenset({"crashed", "diverged", "oom"})
# A mechanism is reverted when this many of its own chosen candidates in a row (the last
# ones that ran) were harmful. Three rules out one unlucky seed or one flaky host, and
# three wasted trials is already a visible cost on a small study.
CHOSEN_HARMFUL_TO_REVERT = 3
# A mechanism is reverted when its screen vetoed every candidate it was shown, in every
# screen round, for this many planned trials in a row. One or two such trials can be a
# justified "not there"; three means each trial now costs every Level-1 round.
VETO_ALL_TRIALS_TO_REVERT = 3
# The per-call CPU budget of a hook call, module load included, when trials are cheap: the
# harness's own call limit (sandbox/harness.py call_seconds). A call over it delays every
# trial's planning.
SLOW_CALL_SECONDS = 2.0
# When trials are expensive, a call may use up to this share of a trial's training time in
# CPU seconds before it counts as slow: planning that costs a quarter of a trial is worth
# questioning, anything less is noise next to the trial it plans.
SLOW_CALL_TRIAL_SHARE = 0.25
# A mechanism is reverted when this many of its calls in a row ran over SLOW_CALL_SECONDS.
# One slow call can be a cold cache or a busy host; three in a row is the module itself.
SLOW_CALLS_TO_REVERT = 3

# `breaker` field of the mechanism_reverted event: which record tripped.
BREAKER_ERRORS = "errors"
BREAKER_CHOSEN_HARMFUL = "chosen_harmful"
BREAKER_VETOES_ALL = "vetoes_all"
BREAKER_SLOW_CALLS = "slow_calls"


def call_budget(trial_seconds: float | None, floor: float = SLOW_CALL_SECONDS) -> float:
    """CPU seconds a hook call may take before it counts as slow, given a trial's cost."""
    if trial_seconds is None or trial_seconds <= 0:
        return floor
    return max(floor, SLOW_CALL_TRIAL_SHARE * trial_seconds)


@dataclass
class EffectTally:
    """The effect records of one live mechanism; ``tripped`` is set once one goes too far."""

    tripped: str = ""  # BREAKER_* of the record that tripped; "" while healthy
    reason: str = ""  # one line for the journal
    slow_streak: int = 0
    veto_streak: int = 0  # finished trials in a row whose every screen call vetoed all
    veto_iteration: int | None = None  # the trial being planned when it last screened
    vetoed_all: bool = False  # so far, in every screen call of veto_iteration
    harmful_seen: list[int] = field(default_factory=list)
    kept_trials: int = 0  # its own trials that became the incumbent: never reverted for slowness

    def _trip(self, breaker: str, reason: str) -> None:
        if not self.tripped:
            self.tripped, self.reason = breaker, reason

    def trip(self, breaker: str, reason: str) -> None:
        """Trip on evidence from outside these records (a live audit's finding)."""
        self._trip(breaker, reason)

    def note_call_seconds(self, seconds: float, budget_s: float = SLOW_CALL_SECONDS) -> None:
        """One hook call took ``seconds`` of CPU (module load included); ``budget_s`` is the
        limit (:func:`call_budget`)."""
        if seconds > budget_s:
            self.slow_streak += 1
        else:
            self.slow_streak = 0
        if self.slow_streak >= SLOW_CALLS_TO_REVERT and not self.kept_trials:
            self._trip(
                BREAKER_SLOW_CALLS,
                f"its last {self.slow_streak} calls each took over {budget_s:.3g} CPU s "
                f"(last {seconds:.2f} s, module load included)",
            )

    def note_screen(self, iteration: int, shown: int, vetoed: int) -> None:
        """Its screen vetoed ``vetoed`` of the ``shown`` candidates while planning ``iteration``."""
        if shown <= 0:
            return
        self.settle(iteration)
        if self.veto_iteration is None:
            self.veto_iteration, self.vetoed_all = iteration, True
        if vetoed < shown:
            self.vetoed_all = False

    def settle(self, iteration: int) -> None:
        """Planning has moved on to ``iteration``: the trial screened before it is done."""
        if self.veto_iteration is None or self.veto_iteration == iteration:
            return
        self.veto_streak = self.veto_streak + 1 if self.vetoed_all else 0
        self.veto_iteration, self.vetoed_all = None, False
        if self.veto_streak >= VETO_ALL_TRIALS_TO_REVERT:
            self._trip(
                BREAKER_VETOES_ALL,
                f"its screen vetoed every fresh candidate for {self.veto_streak} trials in a row",
            )

    def note_history(self, name: str, active_from: int, history: Iterable[dict[str, Any]]) -> None:
        """Look at the finished trials that ran this mechanism's own candidate."""
        source = f"mechanism:{name}"
        own = [
            t
            for t in history
            if t.get("source") == source and int(t.get("index", -1)) >= active_from
        ]
        own.sort(key=lambda t: int(t.get("index", -1)))
        self.kept_trials = sum(1 for t in own if t.get("kept"))
        if self.kept_trials and self.tripped == BREAKER_SLOW_CALLS:
            self.tripped, self.reason = "", ""  # it holds kept improvements: slowness alone
        last = own[-CHOSEN_HARMFUL_TO_REVERT:]
        if len(last) == CHOSEN_HARMFUL_TO_REVERT and all(
            t.get("status") in HARMFUL_TRIAL_STATUSES for t in last
        ):
            statuses = ", ".join(f"#{t.get('index')} {t.get('status')}" for t in last)
            self._trip(
                BREAKER_CHOSEN_HARMFUL,
                f"its last {CHOSEN_HARMFUL_TO_REVERT} chosen candidates all failed ({statuses})",
            )
