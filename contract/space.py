"""One tunable hyperparameter and the one check of its values.

:class:`Param` is the plain, read-only shape a mechanism sees in ``ctx.space``;
``trainer.spec.Param`` is the same parameter validated at the edge (pydantic, with ``doc``
and its shape checks) and checks values with the same :func:`check_value`, so a value is
valid for the host exactly when it is valid for a mechanism.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, get_args

# float: any number in [low, high]; int: a whole number; pow2: a whole power of two;
# choice: one of ``choices``.
ParamKind = Literal["float", "int", "pow2", "choice"]
PARAM_KINDS: tuple[ParamKind, ...] = get_args(ParamKind)
# Bounds printed as integers up to this size; larger ones (and fractions) in %g notation.
MAX_INTEGER_SHOWN = 1e15


class ParamLike(Protocol):
    """What :func:`check_value` reads of a parameter (both ``Param`` classes have it)."""

    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def low(self) -> float | None: ...
    @property
    def high(self) -> float | None: ...
    @property
    def choices(self) -> tuple[Any, ...]: ...


def fmt_bound(x: float) -> str:
    """A bound as a user wrote it: ``64``, not ``64.0``; ``0.001``, not ``1e-03``."""
    return str(int(x)) if float(x).is_integer() and abs(x) < MAX_INTEGER_SHOWN else f"{x:g}"


def check_value(param: ParamLike, value: Any) -> str | None:
    """Why ``value`` is not valid for ``param``, or ``None`` when it is. Never clamps."""
    name = param.name
    if param.kind == "choice":
        if value not in param.choices:
            return f"{name}={value!r} is not one of {list(param.choices)}"
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{name}={value!r} must be a number"
    if not math.isfinite(float(value)):
        return f"{name}={value!r} must be finite"
    if param.kind in ("int", "pow2"):
        if isinstance(value, float) and not value.is_integer():
            return f"{name}={value!r} must be an integer"
        whole = int(value)
        if param.kind == "pow2" and not (whole > 0 and whole & (whole - 1) == 0):
            return f"{name}={value!r} must be a power of two"
    low, high = param.low, param.high
    if low is not None and high is not None and not (low <= float(value) <= high):
        return f"{name}={value!r} is outside [{fmt_bound(low)}, {fmt_bound(high)}]"
    return None


@dataclass(frozen=True)
class Param:
    """One tunable hyperparameter of the search space (read-only).

    ``kind`` is ``"float"``, ``"int"``, ``"pow2"`` (an int that is a power of two) or
    ``"choice"`` (one of ``choices``). ``low``/``high`` are inclusive bounds for numeric
    kinds; ``log`` says the parameter is naturally searched on a log scale (e.g. learning
    rates: multiply/divide rather than add). ``frozen`` parameters must not be changed.
    """

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    default: Any = None
    frozen: bool = False

    def check(self, value: Any) -> str | None:
        """Why ``value`` is not valid for this parameter, or ``None`` when it is."""
        return check_value(self, value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "low": self.low,
            "high": self.high,
            "log": self.log,
            "choices": list(self.choices),
            "default": self.default,
            "frozen": self.frozen,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Param:
        """Build from a plain dict; extra keys (e.g. ``doc`` of ``trainer.spec.Param``) are ignored."""
        kind = data.get("kind")
        if kind not in PARAM_KINDS:
            raise ValueError(f"param {data.get('name')!r}: kind must be one of {PARAM_KINDS}")
        return cls(
            name=str(data["name"]),
            kind=kind,
            low=None if data.get("low") is None else float(data["low"]),
            high=None if data.get("high") is None else float(data["high"]),
            log=bool(data.get("log", False)),
            choices=tuple(data.get("choices") or ()),
            default=data.get("default"),
            frozen=bool(data.get("frozen", False)),
        )
