"""The trial contract: search space, trial spec, trial result (DESIGN §4.1).

This module is the only thing the orchestrator knows about an objective. It must import
without torch: the orchestrator image does not ship it. Everything crossing a process or
Redis boundary is plain JSON produced by ``model_dump(mode="json")``.

Validation never clamps: a value outside its range is an error message, and a trial built
from it is ``invalid``, never silently "fixed".
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ParamKind = Literal["float", "int", "pow2", "choice"]
TrialStatus = Literal["ok", "oom", "diverged", "timeout", "invalid", "crashed"]
BudgetMode = Literal["seconds", "tokens"]

TRIAL_STATUSES: tuple[str, ...] = ("ok", "oom", "diverged", "timeout", "invalid", "crashed")


def _is_pow2(value: int) -> bool:
    return value > 0 and value & (value - 1) == 0


class Param(BaseModel):
    """One tunable hyperparameter. ``low``/``high`` are inclusive."""

    model_config = ConfigDict(frozen=True)

    name: str
    kind: ParamKind
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    default: Any = None
    frozen: bool = False
    doc: str = ""

    @model_validator(mode="after")
    def _check_shape(self) -> Param:
        if self.kind == "choice":
            if not self.choices:
                raise ValueError(f"param {self.name}: a 'choice' param needs choices")
        elif self.low is None or self.high is None or self.low > self.high:
            raise ValueError(f"param {self.name}: needs low <= high")
        if self.default is not None and (err := self.check(self.default)):
            raise ValueError(f"param {self.name}: default is invalid: {err}")
        return self

    def check(self, value: Any) -> str | None:
        """Return why ``value`` is not valid for this param, or None when it is."""
        if self.kind == "choice":
            if value not in self.choices:
                return f"{self.name}={value!r} is not one of {list(self.choices)}"
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{self.name}={value!r} must be a number"
        if self.kind in ("int", "pow2"):
            if isinstance(value, float) and not value.is_integer():
                return f"{self.name}={value!r} must be an integer"
            if self.kind == "pow2" and not _is_pow2(int(value)):
                return f"{self.name}={value!r} must be a power of two"
        if not math.isfinite(float(value)):
            return f"{self.name}={value!r} must be finite"
        assert self.low is not None and self.high is not None
        if not self.low <= float(value) <= self.high:
            return f"{self.name}={value!r} is outside [{_fmt(self.low)}, {_fmt(self.high)}]"
        return None

    def coerce(self, value: Any) -> Any:
        """Normalise a valid value's type (``3.0`` -> ``3`` for ints); never changes its value."""
        if self.kind in ("int", "pow2") and isinstance(value, float):
            return int(value)
        if self.kind == "float" and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value

    def parse(self, text: str) -> Any:
        """Parse a command-line string (``--set NAME=VALUE``) into this param's type."""
        if self.kind == "choice":
            for choice in self.choices:
                if str(choice) == text:
                    return choice
            return text
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"{self.name}={text!r} must be a number") from None
        return (
            self.coerce(number)
            if self.kind == "float"
            else (int(number) if number.is_integer() else number)
        )


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


class SearchSpace(BaseModel):
    """An ordered set of params. Validation reports every problem, not just the first."""

    model_config = ConfigDict(frozen=True)

    params: tuple[Param, ...]

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

    def check_changes(self, changes: dict[str, Any], *, allow_frozen: bool = False) -> list[str]:
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

    def check_config(self, config: dict[str, Any]) -> list[str]:
        """Errors for a full config: every param present, nothing unknown, values valid."""
        errors = [f"missing parameter {n!r}" for n in self.names() if n not in config]
        return errors + self.check_changes(config, allow_frozen=True)

    def apply(self, base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
        merged = dict(base)
        for name, value in changes.items():
            merged[name] = self.param(name).coerce(value) if name in self.names() else value
        return merged

    def override(self, updates: dict[str, dict[str, Any]]) -> SearchSpace:
        """A new space with some params' fields replaced, e.g. ``{"DEPTH": {"frozen": False}}``."""
        unknown = [n for n in updates if n not in self.names()]
        if unknown:
            raise KeyError(f"unknown parameter(s) {unknown}; known: {', '.join(self.names())}")
        params = []
        for p in self.params:
            if p.name in updates:
                p = Param.model_validate({**p.model_dump(), **updates[p.name]})
            params.append(p)
        return SearchSpace(params=tuple(params))


# ---------------------------------------------------------------------------------------
# Presets. Names mirror Karpathy's autoresearch train.py constants so that prompts, the
# paper and this code talk about the same knobs. DEPTH and ASPECT_RATIO set the model size
# and are frozen by default: the budget is fixed, so size is a separate study.
# ---------------------------------------------------------------------------------------

WINDOW_PATTERNS = ("L", "SL", "SSL", "SSSL", "SSSSL", "SSSSSSSL")


def _space(
    *,
    total_batch: tuple[int, int, int],
    device_batch: tuple[int, int, int],
    head_dim: tuple[int, ...],
    head_dim_default: int,
    depth: int,
    aspect_ratio: int,
    unembedding_lr_high: float = 0.1,
) -> SearchSpace:
    tb_lo, tb_default, tb_hi = total_batch
    db_lo, db_default, db_hi = device_batch
    return SearchSpace(
        params=(
            Param(
                name="TOTAL_BATCH_SIZE",
                kind="pow2",
                low=tb_lo,
                high=tb_hi,
                log=True,
                default=tb_default,
                doc="tokens per optimizer step",
            ),
            Param(
                name="DEVICE_BATCH_SIZE",
                kind="pow2",
                low=db_lo,
                high=db_hi,
                log=True,
                default=db_default,
                doc="sequences per micro-batch; gradient accumulation fills the rest",
            ),
            Param(
                name="MATRIX_LR",
                kind="float",
                low=1e-3,
                high=0.3,
                log=True,
                default=0.04,
                doc="Muon learning rate for 2-D weight matrices",
            ),
            Param(
                name="EMBEDDING_LR",
                kind="float",
                low=1e-2,
                high=3.0,
                log=True,
                default=0.6,
                doc="AdamW learning rate for the token embedding",
            ),
            Param(
                name="UNEMBEDDING_LR",
                kind="float",
                low=1e-4,
                high=unembedding_lr_high,
                log=True,
                default=0.004,
                doc="AdamW learning rate for the output head",
            ),
            Param(
                name="SCALAR_LR",
                kind="float",
                low=1e-3,
                high=3.0,
                log=True,
                default=0.5,
                doc="AdamW learning rate for scalar and vector params",
            ),
            Param(
                name="WEIGHT_DECAY",
                kind="float",
                low=0.0,
                high=1.0,
                default=0.2,
                doc="decoupled weight decay on matrices",
            ),
            Param(name="ADAM_BETA1", kind="float", low=0.5, high=0.99, default=0.8),
            Param(name="ADAM_BETA2", kind="float", low=0.8, high=0.9999, default=0.95),
            Param(
                name="WARMUP_RATIO",
                kind="float",
                low=0.0,
                high=0.5,
                default=0.0,
                doc="fraction of the budget spent warming the LR up",
            ),
            Param(
                name="WARMDOWN_RATIO",
                kind="float",
                low=0.0,
                high=1.0,
                default=0.5,
                doc="fraction of the budget spent decaying the LR at the end",
            ),
            Param(
                name="FINAL_LR_FRAC",
                kind="float",
                low=0.0,
                high=1.0,
                default=0.0,
                doc="LR at the end of warm-down, as a fraction of the peak",
            ),
            Param(
                name="WINDOW_PATTERN",
                kind="choice",
                choices=WINDOW_PATTERNS,
                default="SSSL",
                doc="per-layer attention window, cycled: S = half context, L = full context",
            ),
            Param(name="HEAD_DIM", kind="choice", choices=head_dim, default=head_dim_default),
            Param(name="DEPTH", kind="int", low=1, high=32, default=depth, frozen=True),
            Param(
                name="ASPECT_RATIO",
                kind="int",
                low=8,
                high=128,
                default=aspect_ratio,
                frozen=True,
                doc="model width = DEPTH * ASPECT_RATIO, rounded up to a multiple of HEAD_DIM",
            ),
        )
    )


class Preset(BaseModel):
    """A named objective: model scale, tokenizer, device and default budget."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str
    device: Literal["cpu", "cuda", "any"]
    tokenizer: Literal["bytes", "bpe"]
    vocab_size: int
    seq_len: int
    budget_mode: BudgetMode
    budget: float
    eval_tokens: int = Field(description="validation tokens scored for val_bpb")
    space: SearchSpace


PRESETS: dict[str, Preset] = {
    "cpu-tiny": Preset(
        name="cpu-tiny",
        description="a 2-layer byte-level GPT that trains in seconds on a laptop CPU",
        device="any",
        tokenizer="bytes",
        vocab_size=256,
        seq_len=128,
        budget_mode="seconds",
        budget=5.0,
        eval_tokens=32_768,
        space=_space(
            total_batch=(2**9, 2**13, 2**16),
            device_batch=(1, 16, 128),
            head_dim=(16, 32, 64),
            head_dim_default=32,
            depth=2,
            aspect_ratio=32,
            # Reaches the region where the tiny model diverges (measured: from ~5-7 up it
            # stays worse than guessing; every other LR at its maximum still trains, the
            # recipe is that well normalised), so `diverged` is a real outcome a search on
            # the CPU preset can meet and learn from.
            unembedding_lr_high=10.0,
        ),
    ),
    "paper-gpt50m": Preset(
        name="paper-gpt50m",
        description="Karpathy's autoresearch GPT (~50M params, BPE 8192, seq 2048, 300 s) on CUDA",
        device="cuda",
        tokenizer="bpe",
        vocab_size=8192,
        seq_len=2048,
        budget_mode="seconds",
        budget=300.0,
        eval_tokens=10 * 2**19,
        space=_space(
            total_batch=(2**15, 2**19, 2**21),
            # 64 x 2048 tokens per micro-batch (autoresearch uses 128): the fp32 soft-capped
            # logits alone are 4 GiB per 64 rows at vocab 8192, and 128 rows risk OOM on an
            # 80 GB GPU with PyTorch's attention kernels. Accumulation keeps the 2**19 batch.
            device_batch=(1, 64, 256),
            head_dim=(64, 128, 256),
            head_dim_default=128,
            depth=8,
            aspect_ratio=64,
        ),
    ),
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}") from None


def model_dim(config: dict[str, Any]) -> int:
    """Width of the model: DEPTH * ASPECT_RATIO rounded up to a multiple of HEAD_DIM."""
    raw = int(config["DEPTH"]) * int(config["ASPECT_RATIO"])
    head = int(config["HEAD_DIM"])
    return -(-raw // head) * head


def check_combination(preset: Preset, config: dict[str, Any]) -> list[str]:
    """Errors no single param shows: values that are each valid but do not fit together."""
    errors: list[str] = []
    try:
        tokens_per_micro = int(config["DEVICE_BATCH_SIZE"]) * preset.seq_len
        total = int(config["TOTAL_BATCH_SIZE"])
    except (KeyError, TypeError, ValueError):
        return errors
    if total % tokens_per_micro:
        errors.append(
            f"TOTAL_BATCH_SIZE={total} is not a multiple of DEVICE_BATCH_SIZE*seq_len="
            f"{config['DEVICE_BATCH_SIZE']}*{preset.seq_len}={tokens_per_micro}; "
            f"lower DEVICE_BATCH_SIZE or raise TOTAL_BATCH_SIZE"
        )
    return errors


# ---------------------------------------------------------------------------------------
# Trials
# ---------------------------------------------------------------------------------------


class Budget(BaseModel):
    """``seconds``: training wall-clock (start-up, compile and eval excluded), paper-faithful.
    ``tokens``: training tokens, hardware-independent and reproducible."""

    model_config = ConfigDict(frozen=True)

    mode: BudgetMode
    amount: float = Field(gt=0)


class TrialSpec(BaseModel):
    """Everything a trainer needs to run one trial; contains values, never code."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    trial_id: str = Field(
        description="unique key; a retried job with the same id reuses its result"
    )
    index: int = Field(ge=0)
    preset: str
    dataset: str = "stdlib"
    budget: Budget
    config: dict[str, Any]
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"

    def validate_against(self) -> list[str]:
        """All reasons this spec cannot run, without importing torch."""
        try:
            preset = get_preset(self.preset)
        except KeyError as exc:
            return [str(exc.args[0])]
        errors = preset.space.check_config(self.config)
        return errors or check_combination(preset, self.config)


class TrialResult(BaseModel):
    """What a trial produced. ``val_bpb`` is set only when ``status == "ok"``."""

    model_config = ConfigDict(extra="forbid")

    status: TrialStatus
    val_bpb: float | None = None
    steps: int = 0
    tokens: int = 0
    tokens_per_s: float = 0.0
    train_seconds: float = 0.0
    peak_mem_mb: float = 0.0
    mfu: float | None = None
    hardware: str = ""
    error: str = ""
    spec: TrialSpec

    @model_validator(mode="after")
    def _metric_only_when_ok(self) -> TrialResult:
        if self.status == "ok" and (self.val_bpb is None or not math.isfinite(self.val_bpb)):
            raise ValueError("an ok result needs a finite val_bpb")
        if self.status != "ok":
            self.val_bpb = None
        return self

    @classmethod
    def failed(cls, spec: TrialSpec, status: TrialStatus, error: str, **fields: Any) -> TrialResult:
        return cls(status=status, error=error[-2000:], spec=spec, **fields)
