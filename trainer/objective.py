"""The objective contract: what the study loop optimises, beside the trial contract.

An objective has a name, a description for prompts, a search space, one metric with a name
and a direction, fixed facts a model should know (for GPT: sequence length, model size,
tokens per step), and a way to run one trial under a budget, returning the metric and a
status (:func:`trainer.supervise.run_supervised` dispatches on :attr:`TrialSpec.kind`).

Kinds (``[objective] kind = ...`` in a study file):

- ``gpt`` (default): GPT pretraining, the presets of :mod:`trainer.presets`, ``val_bpb``.
- ``function``: ``function(config, budget)`` of a user's module, called in the supervised
  child; returns a number, or a dict with the metric and extra numbers.
- ``command``: a user's command, run per trial with the config in its environment; prints
  ``METRIC: value`` or writes a JSON result file (:mod:`trainer.command`).
- ``benchmark``: the test functions of :mod:`trainer.benchmarks`, in-process, milliseconds.

Objective code is the user's own, trusted code: it runs in the trainer (the child process or
the command), never in the orchestrator or a sandbox; generated code never becomes it.
No torch import here.
"""

from __future__ import annotations

import importlib
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contract.space import SearchSpace
from trainer.spec import GPT_METRIC_NAME, ObjectiveSpec, TrialResult, TrialSpec

# Extra numbers a function or command may report beside its metric (kept in the result).
MAX_EXTRAS = 32


@dataclass(frozen=True)
class Objective:
    """What the orchestrator and the prompts know of an objective."""

    kind: str
    name: str
    description: str
    metric: str
    direction: str
    space: SearchSpace
    facts: dict[str, Any] = field(default_factory=dict)


def describe(
    spec: ObjectiveSpec | None, preset: str = "cpu-tiny", dataset: str = "stdlib"
) -> Objective:
    """The :class:`Objective` of a spec's objective (``None``: GPT with ``preset``)."""
    if spec is None or spec.kind == "gpt":
        from trainer.presets import get_preset, gpt_facts

        chosen = get_preset(preset)
        return Objective(
            kind="gpt",
            name=f"gpt:{preset}",
            description=(
                f"GPT pretraining ({chosen.description}) on {dataset}: validation bits per "
                "byte after a fixed training budget"
            ),
            metric=GPT_METRIC_NAME,
            direction="minimize",
            space=chosen.space,
            facts=gpt_facts(chosen, dataset),
        )
    facts = dict(spec.facts)
    if spec.kind == "benchmark":
        from trainer import benchmarks

        assert spec.benchmark is not None
        bench = benchmarks.get_benchmark(spec.benchmark)
        maximize = spec.direction == "maximize"
        facts.setdefault("benchmark", bench.name)
        facts.setdefault("dimensions", bench.dims(spec.dim))
        facts.setdefault("observation_noise_sd", spec.noise)
        facts.setdefault(
            "known_optimum", benchmarks.known_optimum(bench.name, spec.dim, maximize=maximize)
        )
    description = spec.description or _default_description(spec)
    assert spec.space is not None
    return Objective(
        kind=spec.kind,
        name=spec.name or spec.kind,
        description=description,
        metric=spec.metric,
        direction=spec.direction,
        space=spec.space,
        facts=facts,
    )


def _default_description(spec: ObjectiveSpec) -> str:
    if spec.kind == "function":
        return f"the Python function {spec.target}(config, budget)"
    if spec.kind == "command":
        return f"the training command {' '.join(spec.command)}"
    from trainer import benchmarks

    assert spec.benchmark is not None
    return f"the {benchmarks.get_benchmark(spec.benchmark).description} test function"


def check_spec(spec: TrialSpec) -> list[str]:
    """All reasons ``spec`` cannot run, without running anything."""
    objective = spec.objective
    if objective is None or objective.kind == "gpt":
        from trainer.presets import check_combination, get_preset

        try:
            preset = get_preset(spec.preset)
        except KeyError as exc:
            return [str(exc.args[0])]
        if spec.budget.mode == "steps":
            return ["GPT trials take a seconds or tokens budget, not steps"]
        errors = preset.space.check_config(spec.config)
        if spec.patch:  # a code trial's diff, refused here before any process starts
            from trainer.patch import check_patch

            if problem := check_patch(spec.patch):
                errors.append(f"the patch does not apply: {problem}")
        return errors or check_combination(preset, spec.config)
    if spec.patch is not None:
        errors = [f"a patch edits the GPT recipe; a {objective.kind} objective takes none"]
        return errors
    if objective.space is None:
        return [f"a {objective.kind} objective needs a search space"]
    errors = objective.space.check_config(spec.config)
    if objective.kind == "function" and not _target_parts(objective.target):
        errors.append(f"objective target {objective.target!r} is not 'module:function'")
    if objective.kind == "command" and not objective.command:
        errors.append("a command objective needs a command")
    if objective.kind == "benchmark":
        from trainer import benchmarks

        try:
            benchmarks.get_benchmark(objective.benchmark or "")
        except KeyError as exc:
            errors.append(str(exc.args[0]))
    return errors


def _target_parts(target: str | None) -> tuple[str, str] | None:
    module, sep, function = (target or "").partition(":")
    if not sep or not module.strip() or not function.strip():
        return None
    return module.strip(), function.strip()


def budget_dict(spec: TrialSpec) -> dict[str, Any]:
    """The budget a function objective receives: mode, amount, seed and the trial id."""
    return {
        "mode": spec.budget.mode,
        "amount": spec.budget.amount,
        "seed": spec.seed,
        "trial_id": spec.trial_id,
    }


def load_target(objective: ObjectiveSpec) -> Any:
    """Import the function of a ``function`` objective (raises ImportError naming the fix)."""
    parts = _target_parts(objective.target)
    if parts is None:
        raise ImportError(f"target {objective.target!r} is not 'module:function'")
    module_name, function_name = parts
    for path in reversed(objective.pythonpath):
        if path not in sys.path:
            sys.path.insert(0, path)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(
            f"objective target {objective.target!r} does not import ({exc}); put its module on "
            "PYTHONPATH or next to the study file"
        ) from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise ImportError(
            f"objective target {objective.target!r}: module {module_name} has no function "
            f"{function_name!r}"
        )
    return function


def read_metric(returned: Any, metric: str) -> tuple[float | None, dict[str, float], str]:
    """``(value, extras, problem)`` from what a function returned or a command wrote.

    A number is the metric; a dict holds it under ``metric`` and extra numbers beside it.
    ``problem`` is empty when the value was read (the value may still be NaN).
    """
    if isinstance(returned, dict):
        extras = {
            str(k): float(v)
            for k, v in list(returned.items())[: MAX_EXTRAS + 1]
            if k != metric and _is_number(v) and math.isfinite(float(v))  # JSON-safe only
        }
        if metric not in returned:
            return None, extras, f"the result has no {metric!r} key (keys: {sorted(returned)[:10]})"
        returned = returned[metric]
        if not _is_number(returned):
            return None, extras, f"{metric} = {returned!r} is not a number"
        return float(returned), dict(list(extras.items())[:MAX_EXTRAS]), ""
    if _is_number(returned):
        return float(returned), {}, ""
    return (
        None,
        {},
        f"returned {type(returned).__name__}; return a number or a dict with {metric!r}",
    )


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    try:
        float(value)  # numpy scalars too
    except (TypeError, ValueError):
        return False
    return isinstance(value, int | float) or hasattr(value, "__float__")


def result_from_value(
    spec: TrialSpec,
    value: float | None,
    extras: dict[str, float],
    problem: str,
    **fields: Any,
) -> TrialResult:
    """The result of a trial that reported ``value`` (or failed to, saying ``problem``)."""
    if problem:
        return TrialResult.failed(spec, "invalid", problem, extras=extras, **fields)
    assert value is not None
    if not math.isfinite(value):
        return TrialResult.failed(
            spec, "diverged", f"{spec.metric_name} is {value}", extras=extras, **fields
        )
    return TrialResult(
        status="ok", metric=spec.metric_name, value=value, extras=extras, spec=spec, **fields
    )


def call_function(spec: TrialSpec) -> TrialResult:
    """Run a ``function`` objective's trial in this (the supervised child's) process."""
    import time

    assert spec.objective is not None
    try:
        function = load_target(spec.objective)
    except ImportError as exc:
        return TrialResult.failed(spec, "invalid", str(exc))
    started = time.perf_counter()
    returned = function(dict(spec.config), budget_dict(spec))
    elapsed = time.perf_counter() - started
    value, extras, problem = read_metric(returned, spec.objective.metric)
    return result_from_value(spec, value, extras, problem, train_seconds=elapsed)


def run_benchmark(spec: TrialSpec) -> TrialResult:
    """A ``benchmark`` trial, in this process: microseconds, no child needed."""
    from trainer import benchmarks

    objective = spec.objective
    assert objective is not None and objective.benchmark is not None
    if errors := check_spec(spec):
        return TrialResult.failed(spec, "invalid", "; ".join(errors))
    if objective.delay_s:
        import time

        time.sleep(objective.delay_s)
    value = benchmarks.observe(
        objective.benchmark,
        objective.dim,
        spec.config,
        noise=objective.noise,
        seed=spec.seed,
        maximize=objective.direction == "maximize",
    )
    return result_from_value(spec, value, {}, "", hardware="benchmark function")


# Seconds a preflight import of a function objective's module may take (a heavy import of
# scikit-learn or torch takes a few).
PREFLIGHT_TIMEOUT_S = 120.0
_IMPORT_CHECK = """
import importlib, sys
paths, module, function = sys.argv[1:-2], sys.argv[-2], sys.argv[-1]
sys.path[:0] = paths
try:
    target = getattr(importlib.import_module(module), function, None)
except Exception as exc:  # the user's module, imported in a throwaway process to check it
    print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
    sys.exit(3)
if not callable(target):
    print(f"module {module} has no function {function!r}", file=sys.stderr)
    sys.exit(4)
"""


def preflight(objective: ObjectiveSpec | None) -> str | None:
    """Why this host cannot run the objective at all, or None: a function target that does
    not import, a command or workdir that does not exist. The import runs in a child
    process (the user's code never runs in the caller's)."""
    import os
    import shutil
    import subprocess
    from pathlib import Path

    if objective is None or objective.kind == "benchmark" or objective.kind == "gpt":
        return None
    if objective.kind == "function":
        parts = _target_parts(objective.target)
        if parts is None:
            return f"objective.target {objective.target!r} is not 'package.module:function'"
        try:
            done = subprocess.run(
                [sys.executable, "-c", _IMPORT_CHECK, *objective.pythonpath, *parts],
                capture_output=True,
                text=True,
                timeout=PREFLIGHT_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return f"importing {parts[0]} took over {PREFLIGHT_TIMEOUT_S:.0f} s"
        if done.returncode != 0:
            why = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
            return (
                f"objective.target {objective.target!r} does not import ({why}); put its module "
                "on PYTHONPATH or next to the study file"
            )
        return None
    workdir = Path(objective.workdir or ".")
    if not workdir.is_dir():
        return f"objective.workdir {workdir} is not a folder; fix workdir"
    program = objective.command[0]
    if program in ("python", "python3"):  # trainer.command runs the trainer's own Python
        return _missing_script(objective.command[1:], workdir)
    if os.sep in program:
        path = workdir / program
        found = path.is_file() and os.access(path, os.X_OK)
    else:
        found = shutil.which(program) is not None
    if not found:
        return (
            f"command {program!r} not found (in {workdir} / PATH); fix objective.command, e.g. "
            "command = ['python', 'train.py']"
        )
    return None


# Options of `python` that take the next argument as their value (never the script).
_PYTHON_OPTIONS_WITH_VALUE = ("-W", "-X", "--check-hash-based-pycs")


def _missing_script(args: tuple[str, ...], workdir: Path) -> str | None:
    """Why ``python ARGS`` cannot start: its script does not exist in ``workdir``, or None
    (``-m module`` and ``-c code`` are left to the baseline trial)."""
    script, skip = None, False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("-m", "-c"):
            return None
        elif arg in _PYTHON_OPTIONS_WITH_VALUE:
            skip = True
        elif not arg.startswith("-"):
            script = arg
            break
    if script is None:
        return None
    if (workdir / script).is_file():
        return None
    return (
        f"command script {script!r} does not exist in {workdir}; fix objective.command "
        "(or objective.workdir)"
    )
