"""Optimisers and the learning-rate schedule: their one source is the editable recipe,
:mod:`trainer.recipe`; a code trial's patch edits that file, never this one."""

from __future__ import annotations

from trainer.recipe import (
    ADAM_EPS,
    MUON_MOMENTUM,
    NS_COEFFS,
    NS_STEPS,
    REFERENCE_WIDTH,
    Muon,
    build_optimizers,
    lr_multiplier,
    set_lr,
    zeropower_via_newtonschulz,
)

__all__ = [
    "ADAM_EPS",
    "MUON_MOMENTUM",
    "NS_COEFFS",
    "NS_STEPS",
    "REFERENCE_WIDTH",
    "Muon",
    "build_optimizers",
    "lr_multiplier",
    "set_lr",
    "zeropower_via_newtonschulz",
]
