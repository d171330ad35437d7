"""The study's own recent contexts, replayed in the contract tests of a new mechanism.

A module is contract-tested on synthetic contexts *and* on the contexts it will actually
see: the one the live host would build for the next trial now, and a few from earlier in
the study (the trials as they stood then). Each is built by ``StudyState.context``, the
function the live host uses, so a replay is a live context, not an imitation of one.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from orchestrator.state import StudyState

# The current context and two earlier ones: enough to cover a short and a long history of
# this very study; each adds one call per hook (x2 for determinism) to the ladder's time.
REPLAYED_CONTEXTS = 3


def _as_of(state: StudyState, iteration: int) -> StudyState:
    """The state as it stood when trial ``iteration`` was planned: only earlier trials,
    the incumbent being the last of them that was kept."""
    trials = {i: t for i, t in state.trials.items() if i < iteration}
    kept = [i for i, t in trials.items() if t.kept]
    return dataclasses.replace(state, trials=trials, best_index=max(kept, default=None))


def recent_contexts(
    state: StudyState, iteration: int, count: int = REPLAYED_CONTEXTS
) -> list[dict[str, Any]]:
    """Up to ``count`` live contexts of this study, newest first (none before any trial)."""
    finished = sorted(t.index for t in state.finished_trials())
    if not finished:
        return []
    points = [iteration]
    for fraction in (2 / 3, 1 / 3)[: max(count - 1, 0)]:
        cut = finished[int(len(finished) * fraction)]
        if cut > 0 and cut not in points:
            points.append(cut)
    return [
        (state if point == iteration else _as_of(state, point)).context_json(point)
        for point in points
    ]
