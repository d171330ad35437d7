# The module's own private state and helpers, on self and cls, from methods, lambdas and nested
# functions, with quoted forward references that only name types.
from __future__ import annotations

import dataclasses

from sandbox.api import Candidate, Mechanism


@dataclasses.dataclass
class Score:
    value: float

    def better(self, other: "Score") -> bool:
        return self.value < other.value


class OwnState(Mechanism):
    name = "own_state"
    _step = 0.25

    def __init__(self):
        super().__init__()
        self._seen: dict[str, float] = {}

    @classmethod
    def _scale(cls) -> float:
        return 1 + cls._step

    def _score(self, trial) -> "Score | None":
        return None if trial.val_bpb is None else Score(trial.val_bpb)

    def propose(self, ctx):
        scored = [s for t in ctx.history if (s := self._score(t)) is not None]
        ranked = sorted(scored, key=lambda s: self._key(s))

        def best_value():
            return ranked[0].value if ranked else None

        self._seen["best"] = best_value() or 0.0
        for param in ctx.space:
            if param.kind == "float" and not param.frozen:
                new = ctx.base[param.name] * self._scale()
                if param.low <= new <= param.high:
                    return [Candidate(changes={param.name: new}, rationale="own state")]
        return []

    def _key(self, score: Score) -> float:
        return score.value
