"""The GPT model: its one source is the editable recipe, :mod:`trainer.recipe`.

Kept as a name so code that reads "the model" imports it from here; a code trial's patch
edits ``trainer/recipe.py``, never this file.
"""

from __future__ import annotations

from trainer.recipe import (
    GPT,
    HEAD_INIT_STD,
    LOGIT_SOFTCAP,
    MLP,
    ROPE_BASE,
    Block,
    CausalSelfAttention,
    GPTConfig,
    apply_rotary,
    rms_norm,
    rotary_tables,
    window_mask,
    window_sizes,
)

__all__ = [
    "GPT",
    "HEAD_INIT_STD",
    "LOGIT_SOFTCAP",
    "MLP",
    "ROPE_BASE",
    "Block",
    "CausalSelfAttention",
    "GPTConfig",
    "apply_rotary",
    "rms_norm",
    "rotary_tables",
    "window_mask",
    "window_sizes",
]
