"""The search space: :class:`Param`, one tunable hyperparameter, and :class:`SearchSpace`.

Defined once, here, for every side: the study file is validated into these (pydantic reads
the dataclasses' annotations at the edge, :mod:`trainer.spec`), presets and benchmarks build
them, the loop plans with them, and a mechanism reads them in ``ctx.space``. A value is
valid for the host exactly when it is valid for a mechanism, because both ask
:meth:`Param.check`.

A ``Param`` can only exist in a valid shape (numeric kinds have ``low <= high``, a choice
has choices, a default passes its own check): every constructor, pydantic's included, runs
``__post_init__``. Types are the edge's job; values built in code are trusted to be typed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, get_args

# float: any number in [low, high]; int: a whole number; pow2: a whole power of two;
# choice: one of ``choices``.
ParamKind = Literal["float", "int", "pow2", "choice"]
PARAM_KINDS: tuple[ParamKind, ...] = get_args(ParamKind)
# Bounds printed as integers up to this size; larger ones (and fractions) in %g notation.
MAX_INTEGER_SHOWN = 1e15
# Pydantic reads this class attribute of a stdlib dataclass as its config: a study file's
# ``[space.LR] lo = 1e-4`` is an unknown key, not a silently ignored one. A plain dict, so
# this module stays standard library only.
_FORBID_UNKNOWN_KEYS: dict[str, Any] = {"extra": "forbid"}


def fmt_bound(x: float) -> str:
    """A bound as a user wrote it: ``64``, not ``64.0``; ``0.001``, not ``1e-03``."""
    return str(int(x)) if float(x).is_integer() and abs(x) < MAX_INTEGER_SHOWN else f"{x:g}"


@dataclass(frozen=True)
class Param:
    """One tunable hyperparameter of the search space (read-only).

    ``kind`` is ``"float"``, ``"int"``, ``"pow2"`` (an int that is a power of two) or
    ``"choice"`` (one of ``choices``). ``low``/``high`` are inclusive bounds for numeric
    kinds; ``log`` says the parameter is naturally searched on a log scale (e.g. learning
    rates: multiply/divide rather than add). ``frozen`` parameters must not be changed.
    ``doc`` is the study's one-line description of it ("" when it has none).
    """

    __pydantic_config__: ClassVar[dict[str, Any]] = _FORBID_UNKNOWN_KEYS

    name: str
    kind: ParamKind
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    default: Any = None
    frozen: bool = False
    doc: str = ""

    def __post_init__(self) -> None:
        if self.kind not in PARAM_KINDS:
            raise ValueError(f"param {self.name}: kind must be one of {', '.join(PARAM_KINDS)}")
        # A list from JSON or TOML becomes a tuple: the parameter is read-only all the way.
        object.__setattr__(self, "choices", tuple(self.choices))
        if self.kind == "choice":
            if not self.choices:
                raise ValueError(f"param {self.name}: a 'choice' param needs choices")
        elif self.low is None or self.high is None or self.low > self.high:
            raise ValueError(f"param {self.name}: needs low <= high")
        if self.default is not None and (err := self.check(self.default)):
            raise ValueError(f"param {self.name}: default is invalid: {err}")

    def check(self, value: Any) -> str | None:
        """Why ``value`` is not valid for this parameter, or ``None`` when it is. Never clamps."""
        name = self.name
        if self.kind == "choice":
            if value not in self.choices:
                return f"{name}={value!r} is not one of {list(self.choices)}"
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{name}={value!r} must be a number"
        if not math.isfinite(float(value)):
            return f"{name}={value!r} must be finite"
        if self.kind in ("int", "pow2"):
            if isinstance(value, float) and not value.is_integer():
                return f"{name}={value!r} must be an integer"
            whole = int(value)
            if self.kind == "pow2" and not (whole > 0 and whole & (whole - 1) == 0):
                return f"{name}={value!r} must be a power of two"
        low, high = self.low, self.high
        if low is not None and high is not None and not (low <= float(value) <= high):
            return f"{name}={value!r} is outside [{fmt_bound(low)}, {fmt_bound(high)}]"
        return None

    def coerce(self, value: Any) -> Any:
        """Normalise a valid value's type (``3.0`` -> ``3`` for ints); never changes its value."""
        if self.kind in ("int", "pow2") and isinstance(value, float):
            return int(value)
        if self.kind == "float" and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value

    def parse(self, text: str) -> Any:
        """Parse a command-line string (``--set NAME=VALUE``) into this parameter's type."""
        if self.kind == "choice":
            for choice in self.choices:
                if str(choice) == text:
                    return choice
            return text
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"{self.name}={text!r} must be a number") from None
        if self.kind == "float":
            return number
        return int(number) if number.is_integer() else number

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (what crosses into the sandbox in a context)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "low": self.low,
            "high": self.high,
            "log": self.log,
            "choices": list(self.choices),
            "default": self.default,
            "frozen": self.frozen,
            "doc": self.doc,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Param:
        """From the JSON form; unknown keys are ignored (a newer host may send more)."""
        return cls(
            name=str(data["name"]),
            kind=data.get("kind"),  # type: ignore[arg-type]  # checked by __post_init__
            low=None if data.get("low") is None else float(data["low"]),
            high=None if data.get("high") is None else float(data["high"]),
            log=bool(data.get("log", False)),
            choices=tuple(data.get("choices") or ()),
            default=data.get("default"),
            frozen=bool(data.get("frozen", False)),
            doc=str(data.get("doc") or ""),
        )


PARAM_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Param))


@dataclass(frozen=True)
class SearchSpace:
    """An ordered set of parameters."""

    __pydantic_config__: ClassVar[dict[str, Any]] = _FORBID_UNKNOWN_KEYS

    params: tuple[Param, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", tuple(self.params))

    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"unknown parameter {name!r}; known: {', '.join(self.names())}")

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def tunable(self) -> list[Param]:
        return [p for p in self.params if not p.frozen]

    def check_changes(self, changes: Mapping[str, Any], *, allow_frozen: bool = False) -> list[str]:
        """Errors for a proposed change set: unknown names, frozen params, bad values."""
        errors: list[str] = []
        known = {p.name: p for p in self.params}
        for name, value in changes.items():
            p = known.get(name)
            if p is None:
                errors.append(f"unknown parameter {name!r} (known: {', '.join(known)})")
            elif p.frozen and not allow_frozen:
                errors.append(f"{name} is frozen and cannot be changed")
            elif err := p.check(value):
                errors.append(err)
        return errors

    def check_config(self, config: Mapping[str, Any]) -> list[str]:
        """Errors for a full config: every param present, nothing unknown, values valid."""
        errors = [f"missing parameter {n!r}" for n in self.names() if n not in config]
        return errors + self.check_changes(config, allow_frozen=True)

    def apply(self, base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
        """``base`` with ``changes`` applied, each value in its parameter's type."""
        merged = dict(base)
        known = {p.name: p for p in self.params}
        for name, value in changes.items():
            merged[name] = known[name].coerce(value) if name in known else value
        return merged

    def override(self, updates: Mapping[str, Mapping[str, Any]]) -> SearchSpace:
        """A new space with some params' fields replaced, e.g. ``{"DEPTH": {"frozen": True}}``.

        The values are trusted to be typed (a study file's tables are validated at the edge,
        ``trainer.spec.override_space``); the new shapes are checked as always."""
        unknown = [n for n in updates if n not in self.names()]
        if unknown:
            raise KeyError(f"unknown parameter(s) {unknown}; known: {', '.join(self.names())}")
        return SearchSpace(
            params=tuple(
                dataclasses.replace(p, **updates[p.name]) if p.name in updates else p
                for p in self.params
            )
        )
