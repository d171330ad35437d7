"""The values a mechanism's hooks receive and return: ``Context`` (with its ``Trial``s),
``Candidate``, ``Guidance`` and ``Verdict``, and the hook names.

These cross the boundary between the host and the sandbox in both directions as JSON
(``to_dict``/``from_dict``), so they are defined once, here, in the stdlib-only leaf that
ships in the sandbox image. Generated code imports them from :mod:`sandbox.api`, which
re-exports them beside ``Mechanism``; DESIGN.md's API section and ``sandbox.api``'s
docstring are the rules a mechanism follows.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from contract.constraints import Constraint, violations
from contract.space import Param
from contract.trials import DEFAULT_DIRECTION, DIRECTIONS, Direction

# 2: every trial has ``value`` (the study's metric in its own units) and ``score`` (lower
# is better in every study); the context names the ``metric`` and its ``direction``.
# ``val_bpb`` stays, as the minimise-normal score, so version-1 mechanisms keep working.
# 3: the context states the study's rules (constraints, facts, step scale, noise, trials
# left, refusals); every new field has a default, so version-2 mechanisms keep working.
API_VERSION = 3
# The hooks a mechanism may define, in call order: the one definition of their names.
Hook = Literal["guide", "propose", "screen"]
HOOKS: tuple[Hook, ...] = get_args(Hook)


@dataclass(frozen=True)
class Trial:
    """One finished trial of the study (read-only).

    ``config`` is the full configuration that ran; ``changes`` what differed from the base
    it was proposed against. ``val_bpb`` (lower is better) is ``None`` unless ``status`` is
    ``"ok"``; other statuses are ``oom``, ``diverged``, ``timeout``, ``invalid``, ``crashed``.
    ``kept`` says whether it became the incumbent. ``source`` is ``baseline``, ``llm``,
    ``builtin`` or ``mechanism:<name>``; ``hypothesis`` is the proposer's stated reason.

    ``value`` is the study's metric (``ctx.metric``) as measured; ``score`` the same made
    minimise-normal (lower is better whatever ``ctx.direction``). ``val_bpb`` holds the
    score too (API 1's name; for GPT studies all three are the same number).
    """

    index: int
    config: dict[str, Any]
    changes: dict[str, Any]
    val_bpb: float | None
    status: str
    kept: bool = False
    source: str = "llm"
    hypothesis: str = ""
    value: float | None = None

    def __post_init__(self) -> None:
        if self.value is None and self.val_bpb is not None:  # an API-1 trial: minimising
            object.__setattr__(self, "value", self.val_bpb)

    @property
    def score(self) -> float | None:
        """The metric made minimise-normal: lower is better in every study."""
        return self.val_bpb

    @property
    def ok(self) -> bool:
        """True when the trial finished and has a value."""
        return self.status == "ok" and self.val_bpb is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "config": dict(self.config),
            "changes": dict(self.changes),
            "value": self.value,
            "val_bpb": self.val_bpb,
            "status": self.status,
            "kept": self.kept,
            "source": self.source,
            "hypothesis": self.hypothesis,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], direction: str = "minimize") -> Trial:
        """From JSON; ``value`` alone (API 2) or ``val_bpb`` alone (API 1) both work."""
        raw_value, raw_score = data.get("value"), data.get("val_bpb")
        value = None if raw_value is None else float(raw_value)
        score = None if raw_score is None else float(raw_score)
        sign = -1.0 if direction == "maximize" else 1.0
        if score is None and value is not None:
            score = sign * value
        if value is None and score is not None:
            value = sign * score
        return cls(
            index=int(data["index"]),
            config=dict(data.get("config") or {}),
            changes=dict(data.get("changes") or {}),
            val_bpb=score,
            status=str(data.get("status", "ok")),
            kept=bool(data.get("kept", False)),
            source=str(data.get("source", "llm")),
            hypothesis=str(data.get("hypothesis", "")),
            value=value,
        )


@dataclass
class Candidate:
    """A proposed trial: ``changes`` relative to ``ctx.base``.

    ``rationale`` says why (it is shown in reports); higher ``priority`` is tried first
    (Level 1's own candidates have priority 0).
    """

    changes: dict[str, Any]
    rationale: str = ""
    priority: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "changes": dict(self.changes),
            "rationale": self.rationale,
            "priority": self.priority,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Candidate:
        return cls(
            changes=dict(data.get("changes") or {}),
            rationale=str(data.get("rationale", "")),
            priority=float(data.get("priority", 0.0)),
        )


@dataclass
class Verdict:
    """``screen``'s answer for one candidate: accept it, or reject it with a reason."""

    accept: bool
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"accept": self.accept, "reason": self.reason}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        return cls(accept=bool(data["accept"]), reason=str(data.get("reason", "")))


@dataclass
class Guidance:
    """``guide``'s answer: ``hint`` is added to the Level 1 prompt; ``focus`` names the
    parameters Level 1 should vary (known, non-frozen names)."""

    hint: str = ""
    focus: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"hint": self.hint, "focus": list(self.focus)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Guidance:
        return cls(hint=str(data.get("hint", "")), focus=[str(f) for f in data.get("focus", [])])


@dataclass(frozen=True)
class Context:
    """Everything a hook may know, read-only. Each call receives a fresh copy.

    - ``iteration``: index of the trial being planned (0 for the first).
    - ``seed``: the only allowed source of randomness (see :meth:`rng`).
    - ``space``: the search space, one :class:`Param` per parameter.
    - ``history``: every finished trial, oldest first (may be empty).
    - ``best``: the best ``ok`` trial so far (lowest ``score``), or ``None``.
    - ``base``: the configuration changes apply to (the incumbent's, or the defaults).
    - ``metric``: the name of the objective's metric (``val_bpb`` for GPT pretraining).
    - ``direction``: ``"minimize"`` or ``"maximize"`` (see :meth:`better`).
    - ``step_scale``: the search policy's move size, a multiplier on Level 1's default move
      (x or / 2 on log params, one power of two on pow2 params, 15% of a linear range).
    - ``noise_sd``: the estimated standard deviation of the metric between repeats of one
      configuration; ``None`` when not measured, ``0.0`` when repeats are identical.
    - ``trials_left``: search trials still to plan, this one included (``None``: unknown).
    - ``facts``: the objective's fixed facts no parameter shows (GPT: ``seq_len``,
      ``vocab_size``, ...).
    - ``constraints``: rules between parameters a full configuration must satisfy
      (:class:`contract.constraints.Constraint`; ``c.text()`` reads it, :meth:`violations`
      checks a candidate against all of them).
    - ``refused``: why recent candidates (of any source) were refused before they ran,
      oldest first.
    """

    iteration: int
    seed: int
    space: list[Param]
    history: list[Trial]
    best: Trial | None
    base: dict[str, Any]
    metric: str = "val_bpb"
    direction: Direction = DEFAULT_DIRECTION
    step_scale: float = 1.0
    noise_sd: float | None = None
    trials_left: int | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    constraints: list[Constraint] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    @property
    def maximize(self) -> bool:
        return self.direction == "maximize"

    def better(self, value: float | None, than: float | None) -> bool:
        """Whether metric ``value`` beats ``than`` in this study's direction (None loses)."""
        if value is None:
            return False
        if than is None:
            return True
        return value > than if self.maximize else value < than

    def param(self, name: str) -> Param:
        """The parameter called ``name``; ``KeyError`` naming the known ones otherwise."""
        for p in self.space:
            if p.name == name:
                return p
        raise KeyError(f"unknown parameter {name!r}; known: {', '.join(self.names())}")

    def names(self) -> list[str]:
        """All parameter names, in space order."""
        return [p.name for p in self.space]

    def tunable(self) -> list[Param]:
        """The parameters a candidate may change (those not frozen)."""
        return [p for p in self.space if not p.frozen]

    def apply(self, candidate: Candidate | Mapping[str, Any]) -> dict[str, Any]:
        """The full configuration a candidate (or a plain changes dict) would run."""
        changes = candidate.changes if isinstance(candidate, Candidate) else candidate
        return {**self.base, **changes}

    def check(self, candidate: Candidate | Mapping[str, Any]) -> str | None:
        """Why a candidate is invalid (unknown/frozen name, bad value), or ``None`` if valid."""
        changes = candidate.changes if isinstance(candidate, Candidate) else candidate
        if not changes:
            return "a candidate must change at least one parameter"
        for name, value in changes.items():
            try:
                p = self.param(name)
            except KeyError as exc:
                return str(exc.args[0])
            if p.frozen:
                return f"{name} is frozen and must not be changed"
            if err := p.check(value):
                return err
        return None

    def violations(self, candidate: Candidate | Mapping[str, Any]) -> list[str]:
        """Every constraint the candidate's full configuration breaks (empty: none).
        :meth:`check` covers each value on its own; this covers values that do not fit
        together. A candidate that breaks one is refused before it runs."""
        return violations(self.constraints, self.apply(candidate), self.facts)

    def rng(self) -> random.Random:
        """A ``random.Random`` seeded with ``ctx.seed``: the same context gives the same draws."""
        return random.Random(self.seed)

    def ok_trials(self) -> list[Trial]:
        """The trials that finished with a value, oldest first."""
        return [t for t in self.history if t.ok]

    def to_dict(self) -> dict[str, Any]:
        return {
            "api_version": API_VERSION,
            "iteration": self.iteration,
            "seed": self.seed,
            "space": [p.to_dict() for p in self.space],
            "history": [t.to_dict() for t in self.history],
            "best": None if self.best is None else self.best.to_dict(),
            "base": dict(self.base),
            "metric": self.metric,
            "direction": self.direction,
            "step_scale": self.step_scale,
            "noise_sd": self.noise_sd,
            "trials_left": self.trials_left,
            "facts": dict(self.facts),
            "constraints": [c.to_dict() for c in self.constraints],
            "refused": list(self.refused),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Context:
        best = data.get("best")
        direction = _direction(data.get("direction") or DEFAULT_DIRECTION)
        return cls(
            iteration=int(data.get("iteration", 0)),
            seed=int(data.get("seed", 0)),
            space=[Param.from_dict(p) for p in data.get("space", [])],
            history=[Trial.from_dict(t, direction) for t in data.get("history", [])],
            best=None if best is None else Trial.from_dict(best, direction),
            base=dict(data.get("base") or {}),
            metric=str(data.get("metric") or "val_bpb"),
            direction=direction,
            step_scale=float(data.get("step_scale", 1.0)),
            noise_sd=None if data.get("noise_sd") is None else float(data["noise_sd"]),
            trials_left=None if data.get("trials_left") is None else int(data["trials_left"]),
            facts=dict(data.get("facts") or {}),
            constraints=[Constraint.from_dict(c) for c in data.get("constraints") or []],
            refused=[str(r) for r in data.get("refused") or []],
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), allow_nan=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes | Mapping[str, Any]) -> Context:
        """Parse :meth:`to_json` output (a JSON string) or an already-decoded dict."""
        data = text if isinstance(text, Mapping) else json.loads(text)
        return cls.from_dict(data)


def _direction(value: object) -> Direction:
    """``value`` as a :data:`Direction`; ``ValueError`` naming the allowed ones otherwise."""
    for direction in DIRECTIONS:
        if value == direction:
            return direction
    raise ValueError(f"direction must be one of {DIRECTIONS}, not {value!r}")
