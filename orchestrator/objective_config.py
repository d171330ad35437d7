"""The study file's ``[objective]`` and ``[space.NAME]`` tables: what a study optimises,
which way, and over which parameters.

``kind`` picks the objective (``gpt``, the default; ``function``; ``command``;
``benchmark``); ``metric`` and ``direction`` name what is optimised and which way. For
GPT, ``[space.NAME]`` tables override fields of the preset's parameters (``DEPTH =
{frozen = false}``); for ``function`` and ``command`` they *are* the search space, each
with the keys of :class:`contract.space.Param` (``kind``, ``low``, ``high``, ``log``,
``choices``, ``default``, ``frozen``, ``doc``); for ``benchmark`` they override the
benchmark's own ``x1 .. xd``. Every problem is one line naming the key and the fix.

Paths (``pythonpath``, ``workdir``, ``result_file``) are relative to the study file and
stored absolute, so the journal and a worker on the same host see the same files.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from contract.space import PARAM_FIELDS, SearchSpace
from contract.trials import Direction
from orchestrator.metric import Metric
from trainer import benchmarks
from trainer.presets import PRESETS, get_preset
from trainer.spec import (
    GPT_METRIC_NAME,
    Budget,
    BudgetMode,
    Device,
    ObjectiveKind,
    ObjectiveSpec,
    override_space,
    validate_param,
)

# Metric names when the study file gives none: GPT's, the benchmarks' f, a function's value.
DEFAULT_METRICS = {"gpt": GPT_METRIC_NAME, "benchmark": "f", "function": "value"}
# A function or command objective's budget when the study file gives none: a minute of its
# own training; the supervisor's deadline is derived from it (or from timeout_s).
DEFAULT_USER_BUDGET = Budget(mode="seconds", amount=60.0)
# A benchmark needs no budget; one "step" is one evaluation.
BENCHMARK_BUDGET = Budget(mode="steps", amount=1.0)
EXAMPLES_HINT = "see examples/objectives/"
# Keys that mean something for some kinds only: a key set for another kind is a mistake.
KIND_KEYS: dict[str, tuple[str, ...]] = {
    "preset": ("gpt",),
    "dataset": ("gpt",),
    "device": ("gpt",),
    "target": ("function",),
    "pythonpath": ("function",),
    "command": ("command",),
    "workdir": ("command",),
    "result_file": ("command",),
    "benchmark": ("benchmark",),
    "dim": ("benchmark",),
    "noise": ("benchmark",),
    "delay_s": ("benchmark",),
    "timeout_s": ("function", "command"),
}


class ObjectiveConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: ObjectiveKind = "gpt"
    metric: str | None = Field(
        default=None, description="the metric's name; gpt: val_bpb, benchmark: f"
    )
    direction: Direction = "minimize"
    name: str = ""
    description: str = Field(default="", description="what the objective is, for prompts")
    facts: dict[str, object] = Field(default_factory=dict, description="fixed facts for prompts")
    # gpt
    preset: str = "cpu-tiny"
    dataset: str = "pinned"  # byte-identical wherever the lock is installed (trainer.datasets)
    device: Device = "auto"
    budget_mode: BudgetMode | None = Field(
        default=None, description="seconds, tokens or steps; the objective's default when unset"
    )
    budget: float | None = Field(
        default=None, gt=0, description="the budget's amount; the objective's default when unset"
    )
    # function
    target: str | None = Field(default=None, description="package.module:function")
    pythonpath: list[str] = Field(default_factory=list)
    # command
    command: list[str] = Field(default_factory=list)
    workdir: str | None = None
    result_file: str | None = None
    # benchmark
    benchmark: str | None = None
    dim: int | None = None
    noise: float = Field(default=0.0, ge=0)
    delay_s: float = Field(
        default=0.0, ge=0, le=60, description="simulated seconds per benchmark trial"
    )
    # function and command
    timeout_s: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _fits_kind(self) -> ObjectiveConfig:
        for key, kinds in KIND_KEYS.items():
            default = type(self).model_fields[key].get_default(call_default_factory=True)
            if getattr(self, key) != default and self.kind not in kinds:
                raise ValueError(
                    f"objective.{key} applies to kind {' or '.join(kinds)}, not {self.kind!r}; "
                    f"drop it or set kind"
                )
        if self.metric is not None and not self.metric.strip():
            raise ValueError("objective.metric is empty; name the metric, e.g. metric = 'val_loss'")
        if self.kind == "gpt":
            if self.preset not in PRESETS:
                raise ValueError(
                    f"unknown preset {self.preset!r}; choose one of: {', '.join(PRESETS)}"
                )
            if self.metric not in (None, GPT_METRIC_NAME) or self.direction != "minimize":
                raise ValueError(
                    "a gpt objective minimises val_bpb; drop metric and direction, or pick "
                    "another kind"
                )
            if self.budget_mode == "steps":
                raise ValueError("a gpt objective takes budget_mode seconds or tokens, not steps")
        elif self.kind == "function":
            module, sep, function = (self.target or "").partition(":")
            if not (sep and module.strip() and function.strip()):
                raise ValueError(
                    f"objective.target = {self.target!r}: a function objective needs "
                    "target = 'package.module:function'"
                )
        elif self.kind == "command":
            if not self.command:
                raise ValueError(
                    "a command objective needs command = ['python', 'train.py'] (a list)"
                )
            if self.metric is None:
                raise ValueError(
                    "a command objective needs metric = 'NAME', the NAME of the "
                    "'NAME: value' line it prints"
                )
        elif self.kind == "benchmark":
            if self.benchmark not in benchmarks.BENCHMARKS:
                raise ValueError(
                    f"objective.benchmark = {self.benchmark!r}; choose one of: "
                    f"{', '.join(benchmarks.BENCHMARKS)}"
                )
            if problem := benchmarks.check_dim(self.benchmark, self.dim):
                raise ValueError(f"objective.dim: {problem}")
        return self

    def metric_name(self) -> str:
        return self.metric or DEFAULT_METRICS.get(self.kind, "value")

    def study_metric(self) -> Metric:
        return Metric(self.metric_name(), self.direction)

    def resolved_budget(self) -> Budget:
        if self.kind == "gpt":
            preset = get_preset(self.preset)
            default = Budget(mode=preset.budget_mode, amount=preset.budget)
        elif self.kind == "benchmark":
            default = BENCHMARK_BUDGET
        else:
            default = DEFAULT_USER_BUDGET
        mode = self.budget_mode or default.mode
        if self.budget is not None:
            return Budget(mode=mode, amount=self.budget)
        if mode == default.mode:
            return default
        raise ValueError(f"objective.budget is required when budget_mode = {mode!r}")


def resolve_paths(data: dict[str, object], folder: Path) -> dict[str, object]:
    """The study file's ``[objective]`` with its paths made absolute against ``folder``.

    A function's module is looked for next to the study file (``pythonpath`` gains its
    folder) and a command runs there unless ``workdir`` says otherwise.
    """
    objective = data.get("objective")
    if not isinstance(objective, dict) or objective.get("kind") not in ("function", "command"):
        return data
    objective = dict(objective)
    folder = folder.resolve()

    def absolute(path: object) -> object:
        return str((folder / path).resolve()) if isinstance(path, str) else path

    paths = objective.get("pythonpath", [])
    if objective["kind"] == "function" and isinstance(paths, list):
        objective["pythonpath"] = [absolute(p) for p in paths] + [str(folder)]
    if objective["kind"] == "command":
        objective["workdir"] = absolute(objective.get("workdir") or ".")
    if objective.get("result_file") and isinstance(objective.get("workdir"), str):
        objective["result_file"] = str(Path(objective["workdir"]) / str(objective["result_file"]))
    return {**data, "objective": objective}


def build_space(
    objective: ObjectiveConfig, tables: Mapping[str, Mapping[str, object]]
) -> SearchSpace:
    """The study's search space; a ValueError with one line per problem (the first)."""
    if objective.kind in ("gpt", "benchmark"):
        base = (
            get_preset(objective.preset).space
            if objective.kind == "gpt"
            else benchmarks.benchmark_space(objective.benchmark or "", objective.dim)
        )
        if not tables:
            return base
        unknown = [name for name in tables if name not in base.names()]
        if unknown:
            raise ValueError(
                f"space: unknown parameter(s) {unknown}; known: {', '.join(base.names())}"
            )
        for name, table in tables.items():
            try:
                override_space(base, {name: _table(name, table)})
            except ValidationError as exc:
                raise ValueError(f"space.{name}: {_first_error(exc)}") from None
        return override_space(base, tables)
    if not tables:
        raise ValueError(
            f"a {objective.kind} objective needs a search space: add [space.NAME] tables with "
            f"kind, low, high and default ({EXAMPLES_HINT})"
        )
    params = []
    for name, table in tables.items():
        try:
            params.append(validate_param({**_table(name, table), "name": name}))
        except ValidationError as exc:
            raise ValueError(f"space.{name}: {_first_error(exc)}") from None
        if params[-1].default is None:
            raise ValueError(f"space.{name} needs a default (the baseline trial runs it)")
    return SearchSpace(params=tuple(params))


def _table(name: str, table: object) -> dict[str, object]:
    if not isinstance(table, dict):
        raise ValueError(f"space.{name} must be a table, e.g. [space.{name}]")
    return table


def _first_error(exc: ValidationError) -> str:
    """The first problem of one parameter's table, as one line; an unknown key (a typo of
    ``low``, say) names the key it was probably meant to be."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    if err["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
        key = str(err["loc"][-1]) if err["loc"] else where
        close = difflib.get_close_matches(key, PARAM_FIELDS, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(PARAM_FIELDS)}"
        return f"unknown key {key!r} ({hint})"
    message = err["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def objective_spec(
    objective: ObjectiveConfig, space: SearchSpace, study: str = ""
) -> ObjectiveSpec | None:
    """The objective's definition sent with every trial (None for GPT: the spec says all)."""
    if objective.kind == "gpt":
        return None
    return ObjectiveSpec(
        kind=objective.kind,
        name=objective.name or study or objective.kind,
        description=objective.description,
        metric=objective.metric_name(),
        direction=objective.direction,
        space=space,
        facts=objective.facts,
        target=objective.target,
        pythonpath=tuple(objective.pythonpath),
        command=tuple(objective.command),
        workdir=objective.workdir,
        result_file=objective.result_file,
        benchmark=objective.benchmark,
        dim=objective.dim,
        noise=objective.noise,
        delay_s=objective.delay_s,
        timeout_s=objective.timeout_s,
    )
