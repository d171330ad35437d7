"""Optimisers and the learning-rate schedule.

Muon (momentum + Newton–Schulz orthogonalisation) for the 2-D weight matrices inside the
blocks; AdamW for the embedding, the output head and the per-layer scalars, each with its
own learning rate, as in Karpathy's autoresearch ``train.py``. The schedule is a function of
*budget progress* in [0, 1], not of step count, so it works for a time budget whose number
of steps is unknown in advance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

if TYPE_CHECKING:
    from trainer.model import GPT

# Quintic Newton–Schulz coefficients from Keller Jordan's Muon: converge to ~orthogonal in
# 5 iterations without needing the exact polar factor.
NS_COEFFS = (3.4445, -4.7750, 2.0315)
NS_STEPS = 5
MUON_MOMENTUM = 0.95
ADAM_EPS = 1e-10
# AdamW LRs of the embedding and head are tuned at width 768; scale them by
# (width / 768) ** -0.5 so the same values transfer across model widths (nanochat).
REFERENCE_WIDTH = 768


def zeropower_via_newtonschulz(g: Tensor, steps: int = NS_STEPS) -> Tensor:
    """An approximately orthogonal matrix with the singular vectors of ``g``."""
    a, b, c = NS_COEFFS
    x = g.bfloat16() if g.is_cuda else g.float()
    transposed = x.size(0) > x.size(1)
    if transposed:
        x = x.T
    x = x / (x.norm() + 1e-7)
    for _ in range(steps):
        gram = x @ x.T
        poly = torch.addmm(gram, gram, gram, beta=b, alpha=c)  # b*G + c*G@G, fused
        x = torch.addmm(x, poly, x, beta=a)
    if transposed:
        x = x.T
    return x.to(g.dtype)


class Muon(torch.optim.Optimizer):
    """Nesterov momentum whose update is orthogonalised; decoupled weight decay."""

    def __init__(
        self, params: Any, lr: float, weight_decay: float, momentum: float = MUON_MOMENTUM
    ) -> None:
        super().__init__(params, {"lr": lr, "weight_decay": weight_decay, "momentum": momentum})

    # override: torch's overloads promise the closure's loss back when one is given; Muon
    # takes no closure (the training loop computes the loss itself) and returns nothing.
    @torch.no_grad()
    def step(self, closure: None = None) -> None:  # type: ignore[override]
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                buf = state["momentum_buffer"]
                buf.lerp_(p.grad, 1 - group["momentum"])
                update = p.grad.lerp(buf, group["momentum"])
                update = zeropower_via_newtonschulz(update)
                # Orthogonal updates have RMS ~ 1/sqrt(max dim); rescale to a width-free size.
                scale = max(1.0, p.size(0) / p.size(1)) ** 0.5
                p.mul_(1 - group["lr"] * group["weight_decay"])
                p.add_(update, alpha=-group["lr"] * scale)


def lr_multiplier(progress: float, warmup: float, warmdown: float, final_frac: float) -> float:
    """LR as a fraction of its peak at budget progress ``progress`` in [0, 1].

    Linear warm-up over the first ``warmup`` of the budget, flat, then a linear warm-down
    over the last ``warmdown`` to ``final_frac`` of the peak.
    """
    progress = min(max(progress, 0.0), 1.0)
    if warmup > 0 and progress < warmup:
        return (progress + 1e-8) / warmup
    if warmdown > 0 and progress > 1.0 - warmdown:
        remaining = (1.0 - progress) / warmdown
        return remaining + (1.0 - remaining) * final_frac
    return 1.0


def build_optimizers(model: GPT, config: dict[str, Any]) -> list[torch.optim.Optimizer]:
    """Muon for block matrices, AdamW for embedding, head and scalars; sets ``initial_lr``."""
    width = model.wte.weight.size(1)
    scale = (width / REFERENCE_WIDTH) ** -0.5
    matrices = [p for p in model.blocks.parameters() if p.dim() == 2]
    scalars = [model.resid_lambdas, model.x0_lambdas]
    betas = (float(config["ADAM_BETA1"]), float(config["ADAM_BETA2"]))
    adam_groups = [
        {"params": [model.wte.weight], "lr": float(config["EMBEDDING_LR"]) * scale},
        {"params": [model.lm_head.weight], "lr": float(config["UNEMBEDDING_LR"]) * scale},
        {"params": scalars, "lr": float(config["SCALAR_LR"])},
    ]
    fused = {"fused": True} if next(model.parameters()).is_cuda else {}
    adam = torch.optim.AdamW(adam_groups, betas=betas, eps=ADAM_EPS, weight_decay=0.0, **fused)
    muon = Muon(matrices, lr=float(config["MATRIX_LR"]), weight_decay=float(config["WEIGHT_DECAY"]))
    optimizers: list[torch.optim.Optimizer] = [adam, muon]
    for opt in optimizers:
        for group in opt.param_groups:
            group["initial_lr"] = group["lr"]
    return optimizers


def set_lr(optimizers: list[torch.optim.Optimizer], multiplier: float) -> None:
    for opt in optimizers:
        for group in opt.param_groups:
            group["lr"] = group["initial_lr"] * multiplier
