"""The GPT pretraining presets: model scale, tokenizer, device, default budget and space.

GPT pretraining is one objective kind (``gpt``, the default; :mod:`trainer.objective`).
Its presets live here, beside the trial contract rather than inside it. No torch import.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from contract.constraints import Constraint, violations
from contract.space import Param, SearchSpace
from trainer.spec import BudgetMode

# ---------------------------------------------------------------------------------------
# Names mirror Karpathy's autoresearch train.py constants so that prompts, the
# paper and this code talk about the same knobs. DEPTH and ASPECT_RATIO set the model size
# and are frozen by default: the budget is fixed, so size is a separate study.
# ---------------------------------------------------------------------------------------

WINDOW_PATTERNS = ("L", "SL", "SSL", "SSSL", "SSSSL", "SSSSSSSL")

# Every GPT preset's rule between parameters: an optimizer step accumulates whole
# micro-batches, so the tokens per step must divide into micro-batches of
# DEVICE_BATCH_SIZE sequences of seq_len tokens (a preset fact, named in the expression).
BATCH_DIVIDES = Constraint(
    left="TOTAL_BATCH_SIZE",
    kind="multiple_of",
    right="DEVICE_BATCH_SIZE * seq_len",
    why="lower DEVICE_BATCH_SIZE or raise TOTAL_BATCH_SIZE",
)


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
    constraints: tuple[Constraint, ...] = (BATCH_DIVIDES,)

    def constants(self) -> dict[str, int]:
        """The preset facts its constraints may name (``seq_len``)."""
        return {"seq_len": self.seq_len, "vocab_size": self.vocab_size}


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
    """Errors no single param shows: values that are each valid but break one of the
    preset's constraints (:data:`BATCH_DIVIDES`)."""
    return violations(preset.constraints, config, preset.constants())


def gpt_facts(preset: Preset, dataset: str) -> dict[str, Any]:
    """What a model should know about a GPT trial that no parameter shows (for prompts)."""
    defaults = preset.space.defaults()
    return {
        "preset": preset.name,
        "dataset": dataset,
        "tokenizer": preset.tokenizer,
        "vocab_size": preset.vocab_size,
        "seq_len": preset.seq_len,
        "depth": defaults["DEPTH"],
        "model_dim": model_dim(defaults),
        "tokens_per_step_default": defaults["TOTAL_BATCH_SIZE"],
        "eval_tokens": preset.eval_tokens,
    }
