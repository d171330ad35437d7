"""The trial contract: search space, trial spec, trial result (DESIGN §4.1).

This module is the only thing the orchestrator knows about an objective. It must import
without torch: the orchestrator image does not ship it. Everything crossing a process or
Redis boundary is plain JSON produced by ``model_dump(mode="json")``.

An objective (:class:`ObjectiveSpec`; behaviour in :mod:`trainer.objective`) is one of
``gpt`` (the presets of :mod:`trainer.presets`; a spec without an objective is GPT),
``function`` (a user's ``module:function``), ``command`` (a user's training command) or
``benchmark`` (:mod:`trainer.benchmarks`). A result carries one named metric, ``value``;
for GPT it is ``val_bpb`` and the ``val_bpb`` field holds it too.

Validation never clamps: a value outside its range is an error message, and a trial built
from it is ``invalid``, never silently "fixed".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from contract.space import PARAM_FIELDS, Param, SearchSpace
from contract.trials import Direction, TrialStatus

BudgetMode = Literal["seconds", "tokens", "steps"]
ObjectiveKind = Literal["gpt", "function", "command", "benchmark"]
# Where a GPT trial trains: "auto" picks CUDA when there is a GPU.
Device = Literal["auto", "cpu", "cuda"]
DEVICES: tuple[Device, ...] = get_args(Device)
OBJECTIVE_KINDS: tuple[str, ...] = ("gpt", "function", "command", "benchmark")
# GPT's metric; a result with this metric name also fills the legacy ``val_bpb`` field.
GPT_METRIC_NAME = "val_bpb"
# Characters of an error kept in a result: a traceback's last frames or a stderr tail.
MAX_ERROR_CHARS = 2000
# A benchmark's simulated trial duration stays a demo/test aid, never a real wait.
MAX_BENCHMARK_DELAY_S = 60.0


# ---------------------------------------------------------------------------------------
# The search space, validated at the edge (the shapes themselves: contract.space)
# ---------------------------------------------------------------------------------------

_PARAM = TypeAdapter(Param)


def validate_param(data: Mapping[str, Any]) -> Param:
    """A :class:`Param` from untrusted data (a study file's table, JSON): every field's type
    checked, unknown keys refused; raises pydantic's ``ValidationError``."""
    return _PARAM.validate_python(dict(data))


def override_space(space: SearchSpace, updates: Mapping[str, Mapping[str, Any]]) -> SearchSpace:
    """``space`` with some params' fields replaced by untrusted values (a study file's
    ``[space.NAME]`` tables over a preset): unknown parameters raise ``KeyError``, unknown
    keys and bad values pydantic's ``ValidationError``."""
    space.override({name: {} for name in updates})  # unknown names: the KeyError
    checked = {
        name: validate_param({**space.param(name).to_dict(), **fields})
        for name, fields in updates.items()
    }
    return space.override({name: _fields_of(p) for name, p in checked.items()})


def _fields_of(param: Param) -> dict[str, Any]:
    return {name: getattr(param, name) for name in PARAM_FIELDS if name != "name"}


# ---------------------------------------------------------------------------------------
# Trials
# ---------------------------------------------------------------------------------------


class Budget(BaseModel):
    """``seconds``: training wall-clock (start-up, compile and eval excluded), paper-faithful.
    ``tokens``: training tokens, hardware-independent and reproducible. ``steps``: the
    objective's own unit (iterations, epochs), for user objectives; GPT refuses it."""

    model_config = ConfigDict(frozen=True)

    mode: BudgetMode
    amount: float = Field(gt=0)


class ObjectiveSpec(BaseModel):
    """The definition of a non-GPT objective, as JSON: names, paths and values, never code.

    ``function``: ``target`` (``package.module:function``) found on ``pythonpath`` or
    ``PYTHONPATH``. ``command``: ``command`` run in ``workdir``, the metric read from the
    last ``METRIC: value`` line on stdout or from ``result_file`` (JSON). ``benchmark``:
    ``benchmark`` (name), ``dim``, ``noise`` (sd of Gaussian observation noise) and
    ``delay_s`` (a simulated trial duration: with microsecond trials a study would end
    before a background research session could promote anything).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ObjectiveKind
    name: str = ""
    description: str = ""
    metric: str
    direction: Direction = "minimize"
    space: SearchSpace | None = None
    facts: dict[str, Any] = Field(default_factory=dict)
    target: str | None = None
    pythonpath: tuple[str, ...] = ()
    command: tuple[str, ...] = ()
    workdir: str | None = None
    result_file: str | None = None
    benchmark: str | None = None
    dim: int | None = None
    noise: float = Field(default=0.0, ge=0)
    delay_s: float = Field(default=0.0, ge=0, le=MAX_BENCHMARK_DELAY_S)
    timeout_s: float | None = Field(default=None, gt=0)


class TrialSpec(BaseModel):
    """Everything a trainer needs to run one trial; contains values, never code.

    ``objective`` is None for GPT pretraining (``preset``, ``dataset``, ``device`` apply);
    otherwise it defines the objective and ``preset``/``dataset`` are unused."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    trial_id: str = Field(
        description="unique key; a retried job with the same id reuses its result"
    )
    index: int = Field(ge=0)
    preset: str = ""
    dataset: str = "stdlib"
    budget: Budget
    config: dict[str, Any]
    seed: int = 0
    device: Device = "auto"
    objective: ObjectiveSpec | None = None
    # GPT: the split the metric is measured on. "test" is held out from every search
    # decision; only the study's final scoring of the best and the baseline uses it.
    eval_split: Literal["val", "test"] = "val"
    # GPT: a code trial's unified diff against trainer/recipe.py (trainer.patch checks it).
    # None trains the trusted recipe in the trainer's own child; a string, even "" (the
    # recipe unchanged), trains it jailed (trainer.codetrial).
    patch: str | None = None

    @property
    def kind(self) -> str:
        return "gpt" if self.objective is None else self.objective.kind

    @property
    def metric_name(self) -> str:
        return GPT_METRIC_NAME if self.objective is None else self.objective.metric


class TrialResult(BaseModel):
    """What a trial produced. ``value`` (the metric named ``metric``) is set only when
    ``status == "ok"``; for GPT, ``val_bpb`` holds the same number. ``extras`` are further
    numbers an objective reported (shown, never optimised)."""

    model_config = ConfigDict(extra="forbid")

    status: TrialStatus
    metric: str = GPT_METRIC_NAME
    value: float | None = None
    val_bpb: float | None = None
    extras: dict[str, float] = Field(default_factory=dict)
    steps: int = 0
    tokens: int = 0
    tokens_per_s: float = 0.0
    train_seconds: float = 0.0
    peak_mem_mb: float = 0.0
    mfu: float | None = None
    hardware: str = ""
    # What the number was measured on: the content hash of the data (trainer.data's token
    # fingerprint) and the software (torch version, threads, device, python). Results on
    # other data are not comparable: the orchestrator refuses them.
    data_fingerprint: str = ""
    software: dict[str, str] = Field(default_factory=dict)
    # GPT: the smoothed training loss on the metric's scale, as [fraction of budget, loss]
    # every 5% (trainer/progress.py); what pruning compares later trials against.
    curve: list[list[float]] = Field(default_factory=list)
    error: str = ""
    spec: TrialSpec

    @model_validator(mode="after")
    def _metric_only_when_ok(self) -> TrialResult:
        if self.metric == GPT_METRIC_NAME:  # the two fields of GPT's metric agree
            if self.value is None:
                self.value = self.val_bpb
            self.val_bpb = self.value
        if self.status == "ok" and (self.value is None or not math.isfinite(self.value)):
            raise ValueError(f"an ok result needs a finite {self.metric}")
        if self.status != "ok":
            self.value = self.val_bpb = None
        return self

    @classmethod
    def failed(cls, spec: TrialSpec, status: TrialStatus, error: str, **fields: Any) -> TrialResult:
        fields.setdefault("metric", spec.metric_name)
        return cls(status=status, error=error[-MAX_ERROR_CHARS:], spec=spec, **fields)
