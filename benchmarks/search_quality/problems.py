"""The problems of the search-quality benchmark: each one a study file's ``[objective]``.

Cheap problems are the ``benchmark`` objectives (standard test functions with known optima,
microseconds per trial), so many seeds fit in minutes. Regret is always measured on the
*noiseless* value of the configuration a method would report (its best observation), so a
method that chases a lucky draw on a noisy problem is not rewarded for it. The scikit-learn
example and cpu-tiny GPT have no known optimum: their regret is measured against the best
value any method found on any seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.config import StudyConfig
from trainer import benchmarks

REPO = Path(__file__).resolve().parents[2]
# Observation noise of the noisy variants, as a standard deviation: about 5% of the gap
# between the default point's value and the optimum, enough to fool a greedy "keep it if it
# looks better" search, small enough that a good method can still make progress.
BRANIN_NOISE_SD = 2.5
HARTMANN_NOISE_SD = 0.1
# Rosenbrock's textbook default (0, ..., 0) sits one unit from the optimum in a box 15 wide:
# nothing in 30 trials beats it, so every method ties at regret 1. The box's centre does not.
ROSENBROCK_DEFAULT = 2.5
# cpu-tiny GPT: a tokens budget gives the same val_bpb for the same config on any machine.
GPT_BUDGET_TOKENS = 24_576


@dataclass(frozen=True)
class Problem:
    name: str
    objective: dict[str, Any]  # the study file's [objective] table
    cheap: bool = True  # counts toward the goal; gets the full seed count
    space: dict[str, Any] = field(default_factory=dict)  # [space.NAME] overrides

    def study_config(
        self, name: str, *, trials: int, seed: int, rule: str | None = None, **levels: Any
    ) -> StudyConfig:
        acceptance = {"acceptance": {"rule": rule}} if rule else {}
        return StudyConfig.from_dict(
            {
                **acceptance,
                "name": name,
                "iterations": trials,
                "seed": seed,
                "executor": "inline",
                "objective": dict(self.objective),
                "space": dict(self.space),
                "levels": levels,
                "llm": {"provider": "builtin"},
            }
        )

    @property
    def known_optimum(self) -> float | None:
        """The best achievable score (minimise-normal), when known."""
        if self.objective.get("kind") != "benchmark":
            return None
        return benchmarks.known_optimum(self.objective["benchmark"], self.objective.get("dim"))

    def noiseless_score(self, config: dict[str, Any], observed_score: float) -> float:
        """The score without observation noise (benchmarks), else what was observed."""
        if self.objective.get("kind") != "benchmark":
            return observed_score
        return benchmarks.evaluate(self.objective["benchmark"], self.objective.get("dim"), config)


def _bench(
    name: str,
    benchmark: str,
    dim: int | None = None,
    noise: float = 0.0,
    default: float | None = None,
) -> Problem:
    objective: dict[str, Any] = {"kind": "benchmark", "benchmark": benchmark}
    if dim is not None:
        objective["dim"] = dim
    if noise:
        objective["noise"] = noise
    space: dict[str, Any] = {}
    if default is not None:  # every coordinate's default (the first trial), via [space.xi]
        space = {f"x{i + 1}": {"default": default} for i in range(dim or 2)}
    return Problem(name=name, objective=objective, space=space)


CHEAP_PROBLEMS: tuple[Problem, ...] = (
    _bench("branin", "branin"),
    _bench("hartmann6", "hartmann6"),
    _bench("rosenbrock4", "rosenbrock", dim=4, default=ROSENBROCK_DEFAULT),
    _bench("ackley5", "ackley", dim=5),
    _bench("branin-noisy", "branin", noise=BRANIN_NOISE_SD),
    _bench("hartmann6-noisy", "hartmann6", noise=HARTMANN_NOISE_SD),
    _bench("mixed", "mixed"),
)
# The quick mode's subset: a smooth 2-D, a 6-D multimodal and the mixed-type space.
QUICK_PROBLEMS = ("branin", "hartmann6", "mixed")

DIGITS = Problem(
    name="digits-svm",
    objective={
        "kind": "function",
        "target": "digits:evaluate",
        "pythonpath": [str(REPO / "examples" / "objectives")],
        "metric": "accuracy",
        "direction": "maximize",
        "timeout_s": 120,
    },
    cheap=False,
    space={
        "C": {"kind": "float", "low": 0.001, "high": 1000.0, "log": True, "default": 0.1},
        "gamma": {"kind": "float", "low": 0.0001, "high": 10.0, "log": True, "default": 0.01},
        "kernel": {"kind": "choice", "choices": ["rbf", "poly", "sigmoid"], "default": "rbf"},
    },
)

GPT = Problem(
    name="gpt-cpu-tiny",
    objective={"preset": "cpu-tiny", "budget_mode": "tokens", "budget": GPT_BUDGET_TOKENS},
    cheap=False,
)


def select_problems(names: list[str] | None, *, digits: bool, gpt: bool) -> list[Problem]:
    """The cheap problems named (all when None), plus the opt-in expensive ones."""
    known = {p.name: p for p in CHEAP_PROBLEMS}
    unknown = [n for n in names or [] if n not in known]
    if unknown:
        raise ValueError(f"unknown problem(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    chosen = [known[n] for n in names] if names else list(CHEAP_PROBLEMS)
    return chosen + ([DIGITS] if digits else []) + ([GPT] if gpt else [])
