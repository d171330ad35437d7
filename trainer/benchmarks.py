"""Standard HPO test functions with known optima: the ``benchmark`` objective kind.

Each trial takes microseconds, so tests and the search benchmark can run every level of the
system on a real objective in seconds. All functions are minimised in their textbook form;
a study that says ``direction = "maximize"`` gets ``-f`` (and ``-f*`` as its optimum), so
the same functions exercise both directions. Optional Gaussian observation noise (``noise``
= its standard deviation) is drawn from the trial's seed and configuration: the same trial
gives the same value, another seed another draw.

Parameters are named ``x1 .. xd``; the ``mixed`` variant adds an int, a log-scale float, a
choice and a power of two to Branin, each with its own known best value. Standard library
only (no numpy), so the orchestrator can read the known optima too.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from contract.space import Param, SearchSpace

# Dimensions of the variable-dimension functions when the study file names none.
DEFAULT_DIM = 2
# Rosenbrock and Ackley are defined for any dimension; beyond this a millisecond trial and
# a readable prompt both suffer.
MAX_DIM = 32

# Hartmann-6's constants (Dixon & Szegő 1978, as tabulated by Surjanovic & Bingham).
_H6_ALPHA = (1.0, 1.2, 3.0, 3.2)
_H6_A = (
    (10, 3, 17, 3.5, 1.7, 8),
    (0.05, 10, 17, 0.1, 8, 14),
    (3, 3.5, 1.7, 10, 17, 8),
    (17, 8, 0.05, 10, 0.1, 14),
)
_H6_P = (
    (1312, 1696, 5569, 124, 8283, 5886),
    (2329, 4135, 8307, 3736, 1004, 9991),
    (2348, 1451, 3522, 2883, 3047, 6650),
    (4047, 8828, 8732, 5743, 1091, 381),
)
# The mixed variant's extra parameters and the values at which each costs nothing.
MIXED_ACTIVATION_COST = {"gelu": 0.0, "relu": 0.3, "tanh": 0.6}
MIXED_BEST: dict[str, Any] = {"layers": 3, "lr": 1e-2, "activation": "gelu", "width": 64}


def branin(x: list[float]) -> float:
    x1, x2 = x
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def hartmann6(x: list[float]) -> float:
    total = 0.0
    for alpha, a_row, p_row in zip(_H6_ALPHA, _H6_A, _H6_P, strict=True):
        inner = sum(a * (xi - p * 1e-4) ** 2 for xi, a, p in zip(x, a_row, p_row, strict=True))
        total += alpha * math.exp(-inner)
    return -total


def rosenbrock(x: list[float]) -> float:
    return sum(100 * (b - a * a) ** 2 + (1 - a) ** 2 for a, b in itertools.pairwise(x))


def ackley(x: list[float]) -> float:
    d = len(x)
    sq = math.sqrt(sum(v * v for v in x) / d)
    cos = sum(math.cos(2 * math.pi * v) for v in x) / d
    return -20 * math.exp(-0.2 * sq) - math.exp(cos) + 20 + math.e


@dataclass(frozen=True)
class Benchmark:
    """A test function: its box, a default point (never the optimum) and its known optimum."""

    name: str
    description: str
    fixed_dim: int | None  # None: any dimension from 2 to MAX_DIM
    low: float
    high: float
    default: float  # every coordinate's default
    optimum_value: float
    optimum_point: Callable[[int], list[float]]
    function: Callable[[list[float]], float]

    def dims(self, dim: int | None) -> int:
        return self.fixed_dim or dim or DEFAULT_DIM


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark(
            "branin",
            "Branin-Hoo, 2-D, three global minima",
            2,
            -5.0,
            15.0,
            0.0,
            0.39788735772973816,
            lambda _d: [math.pi, 2.275],
            branin,
        ),
        Benchmark(
            "hartmann6",
            "Hartmann-6 on the unit cube, one global minimum among several local ones",
            6,
            0.0,
            1.0,
            0.5,
            -3.3223680114155147,
            lambda _d: [0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573],
            hartmann6,
        ),
        Benchmark(
            "rosenbrock",
            "Rosenbrock's banana valley: easy to reach, slow to follow",
            None,
            -5.0,
            10.0,
            0.0,
            0.0,
            lambda d: [1.0] * d,
            rosenbrock,
        ),
        Benchmark(
            "ackley",
            "Ackley: a flat, rippled plateau around one deep minimum at the origin",
            None,
            -32.768,
            32.768,
            12.5,
            0.0,
            lambda d: [0.0] * d,
            ackley,
        ),
        Benchmark(
            "mixed",
            "Branin plus an int, a log-scale float, a choice and a power of two (mixed types)",
            2,
            -5.0,
            15.0,
            0.0,
            0.39788735772973816,
            lambda _d: [math.pi, 2.275],
            branin,
        ),
    )
}


def get_benchmark(name: str) -> Benchmark:
    try:
        return BENCHMARKS[name]
    except KeyError:
        raise KeyError(
            f"unknown benchmark {name!r}; choose one of: {', '.join(BENCHMARKS)}"
        ) from None


def check_dim(name: str, dim: int | None) -> str | None:
    """Why ``dim`` does not suit benchmark ``name``, or None."""
    bench = get_benchmark(name)
    if dim is None:
        return None
    if bench.fixed_dim is not None and dim != bench.fixed_dim:
        return f"benchmark {name} has {bench.fixed_dim} dimensions, not {dim}; drop dim"
    if not 2 <= dim <= MAX_DIM:
        return f"dim = {dim} is outside [2, {MAX_DIM}]"
    return None


def benchmark_space(name: str, dim: int | None = None) -> SearchSpace:
    """The search space of a benchmark: ``x1 .. xd`` over its box (plus the mixed extras)."""
    bench = get_benchmark(name)
    params = [
        Param(name=f"x{i + 1}", kind="float", low=bench.low, high=bench.high, default=bench.default)
        for i in range(bench.dims(dim))
    ]
    if name == "branin":  # Branin's box is not a cube
        params = [
            Param(name="x1", kind="float", low=-5.0, high=10.0, default=0.0),
            Param(name="x2", kind="float", low=0.0, high=15.0, default=0.0),
        ]
    if name == "mixed":
        params = [
            Param(name="x1", kind="float", low=-5.0, high=10.0, default=0.0),
            Param(name="x2", kind="float", low=0.0, high=15.0, default=0.0),
            Param(name="layers", kind="int", low=1, high=8, default=6, doc="best at 3"),
            Param(name="lr", kind="float", low=1e-4, high=1.0, log=True, default=0.3),
            Param(
                name="activation", kind="choice", choices=("relu", "tanh", "gelu"), default="tanh"
            ),
            Param(name="width", kind="pow2", low=8, high=256, log=True, default=16),
        ]
    return SearchSpace(params=tuple(params))


def _mixed_penalty(config: dict[str, Any]) -> float:
    return (
        0.1 * (int(config["layers"]) - MIXED_BEST["layers"]) ** 2
        + 0.5 * (math.log10(float(config["lr"])) - math.log10(MIXED_BEST["lr"])) ** 2
        + MIXED_ACTIVATION_COST[str(config["activation"])]
        + 0.05 * (math.log2(int(config["width"])) - math.log2(MIXED_BEST["width"])) ** 2
    )


def evaluate(name: str, dim: int | None, config: dict[str, Any]) -> float:
    """The noiseless value ``f(config)`` in the function's own (minimised) sense."""
    bench = get_benchmark(name)
    x = [float(config[f"x{i + 1}"]) for i in range(bench.dims(dim))]
    value = bench.function(x)
    if name == "mixed":
        value += _mixed_penalty(config)
    return value


def observe(
    name: str,
    dim: int | None,
    config: dict[str, Any],
    *,
    noise: float = 0.0,
    seed: int = 0,
    maximize: bool = False,
) -> float:
    """One observation: ``f`` plus seeded Gaussian noise, negated when maximising."""
    value = evaluate(name, dim, config)
    if noise > 0:
        key = json.dumps({"seed": seed, "config": config}, sort_keys=True, default=str)
        draw = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
        value += random.Random(draw).gauss(0.0, noise)
    return -value if maximize else value


def known_optimum(name: str, dim: int | None = None, *, maximize: bool = False) -> float:
    """The best achievable value (``f*``, or ``-f*`` when maximising), noise aside."""
    value = get_benchmark(name).optimum_value
    return -value if maximize else value


def optimum_config(name: str, dim: int | None = None) -> dict[str, Any]:
    """A configuration that attains :func:`known_optimum`."""
    bench = get_benchmark(name)
    point = bench.optimum_point(bench.dims(dim))
    config: dict[str, Any] = {f"x{i + 1}": v for i, v in enumerate(point)}
    if name == "mixed":
        config.update(MIXED_BEST)
    return config
