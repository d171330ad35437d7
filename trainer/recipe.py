"""THE RECIPE: the one file a code trial may edit (model, optimisers, schedule, training step).

Everything else of a GPT trial is the trusted harness (:mod:`trainer.train` for trusted
runs, :mod:`trainer.codetrial` for patched ones): the data, the tokenizer, the batches,
the budget and its accounting, evaluation and ``val_bpb``. The harness calls only the
interface below; a patched copy of this file runs in a jail, so it imports nothing of the
project (torch and the standard library only) and must not rely on any other file.

Interface (what the harness calls; keep the signatures):

``build(config, vocab_size, seq_len, device) -> Recipe``
    the model and its optimisers for one trial's hyperparameters;
``train_step(recipe, batches, progress) -> float``
    one optimiser step over ``batches`` (a list of ``(x, y)`` int64 tensors of shape
    ``(B, T)`` on the device, the gradient-accumulation micro-batches the harness chose) at
    budget ``progress`` in [0, 1]; returns the mean training loss;
``recipe.model(x) -> logits``
    float logits ``(B, T, vocab)`` with position ``t`` depending on ``x[:, :t+1]`` only
    (the harness probes this and scores the logits itself).

The model is today's GPT of Karpathy's autoresearch ``train.py``, at any scale: RMSNorm
without weights, rotary position embeddings, QK-norm, ReLU² MLP, causal attention whose
window follows a per-layer pattern (``S`` = half the context, ``L`` = the full context,
cycled over layers, the last layer always ``L``), per-layer residual and input-skip
scalars, a tanh soft-cap on the logits, untied embedding and head. Muon (momentum +
Newton–Schulz orthogonalisation) trains the 2-D weight matrices inside the blocks; AdamW
the embedding, the output head and the per-layer scalars, each with its own learning rate.
The schedule is a function of *budget progress* in [0, 1], not of step count, so it works
for a time budget whose number of steps is unknown in advance.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# Logits are squashed to (-15, 15): keeps early training stable at high LRs (modded-nanogpt).
LOGIT_SOFTCAP = 15.0
ROPE_BASE = 10_000.0
# Init std of the output head: tiny, so the first loss is ~ln(vocab) whatever the width.
HEAD_INIT_STD = 1e-3


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int
    seq_len: int
    n_layer: int
    n_embd: int
    head_dim: int
    window_pattern: str = "L"

    @property
    def n_head(self) -> int:
        return self.n_embd // self.head_dim


def window_sizes(pattern: str, n_layer: int, seq_len: int) -> list[int]:
    """Attention window (in tokens) of each layer: the pattern cycled, the last layer full."""
    sizes = {"S": max(1, seq_len // 2), "L": seq_len}
    windows = [sizes[pattern[i % len(pattern)]] for i in range(n_layer)]
    windows[-1] = seq_len
    return windows


def window_mask(seq_len: int, window: int) -> Tensor:
    """Boolean (T, T) mask, True where query i may attend key j: ``0 <= i - j < window``."""
    i = torch.arange(seq_len)[:, None]
    j = torch.arange(seq_len)[None, :]
    return (j <= i) & (i - j < window)


def rms_norm(x: Tensor) -> Tensor:
    return F.rms_norm(x, (x.size(-1),))


def rotary_tables(seq_len: int, head_dim: int) -> tuple[Tensor, Tensor]:
    """Full-width rotary tables ``[cos, cos]`` and ``[sin, -sin]``, shaped (1, T, 1, 1, D).

    The layout lets :func:`apply_rotary` rotate q and k together in three ops.
    """
    inv_freq = 1.0 / (ROPE_BASE ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    angles = torch.outer(torch.arange(seq_len, dtype=torch.float32), inv_freq)
    cos, sin = angles.cos(), angles.sin()
    shape = (1, seq_len, 1, 1, head_dim)
    return torch.cat((cos, cos), -1).view(shape), torch.cat((sin, -sin), -1).view(shape)


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate the halves of the last dim: ``(x1, x2) -> (x1 cos + x2 sin, x2 cos - x1 sin)``."""
    swapped = x.roll(x.size(-1) // 2, dims=-1)  # (x2, x1)
    return (x * cos + swapped * sin).type_as(x)


class CausalSelfAttention(nn.Module):
    mask: Tensor  # a buffer, registered when the window is shorter than the sequence

    def __init__(self, config: GPTConfig, window: int) -> None:
        super().__init__()
        self.n_head, self.head_dim, self.window = config.n_head, config.head_dim, window
        self.full = window >= config.seq_len
        self.c_qkv = nn.Linear(config.n_embd, 3 * config.n_embd, bias=False)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=False)
        if not self.full:
            self.register_buffer("mask", window_mask(config.seq_len, window), persistent=False)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        b, t, c = x.shape
        qkv = self.c_qkv(x).view(b, t, 3, self.n_head, self.head_dim)
        # q and k rotated and normalised in one pass (QK-norm bounds the attention logits).
        qk = rms_norm(apply_rotary(qkv[:, :, :2], cos, sin))
        q, k, v = qk[:, :, 0], qk[:, :, 1], qkv[:, :, 2]
        q, k, v = (z.transpose(1, 2) for z in (q, k, v))
        if self.full:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=self.mask[:t, :t])
        return self.c_proj(y.transpose(1, 2).contiguous().view(b, t, c))


class MLP(nn.Module):
    def __init__(self, n_embd: int) -> None:
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd, bias=False)
        self.c_proj = nn.Linear(4 * n_embd, n_embd, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.c_proj(F.relu(self.c_fc(x)).square())


class Block(nn.Module):
    def __init__(self, config: GPTConfig, window: int) -> None:
        super().__init__()
        self.attn = CausalSelfAttention(config, window)
        self.mlp = MLP(config.n_embd)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        x = x + self.attn(rms_norm(x), cos, sin)
        return x + self.mlp(rms_norm(x))


class GPT(nn.Module):
    cos: Tensor  # rotary tables (buffers)
    sin: Tensor

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        windows = window_sizes(config.window_pattern, config.n_layer, config.seq_len)
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.blocks = nn.ModuleList(Block(config, w) for w in windows)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        # Per-layer scalars: x <- resid * x + x0_mix * x0 before each block (nanochat).
        self.resid_lambdas = nn.Parameter(torch.ones(config.n_layer))
        self.x0_lambdas = nn.Parameter(torch.zeros(config.n_layer))
        cos, sin = rotary_tables(config.seq_len, config.head_dim)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        nn.init.normal_(self.wte.weight, std=1.0)
        nn.init.normal_(self.lm_head.weight, std=HEAD_INIT_STD)
        bound = 3**0.5 * self.config.n_embd**-0.5  # uniform with std 1/sqrt(fan_in)
        for block in self.blocks:
            assert isinstance(block, Block)
            nn.init.uniform_(block.attn.c_qkv.weight, -bound, bound)
            nn.init.uniform_(block.mlp.c_fc.weight, -bound, bound)
            # Zero output projections: every block starts as the identity.
            nn.init.zeros_(block.attn.c_proj.weight)
            nn.init.zeros_(block.mlp.c_proj.weight)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def flops_per_token(self) -> float:
        """Training FLOPs per token: 6 per matmul weight plus attention's scores and values."""
        c = self.config
        matmul = sum(p.numel() for p in self.parameters() if p.dim() == 2) - self.wte.weight.numel()
        windows = window_sizes(c.window_pattern, c.n_layer, c.seq_len)
        attention = sum(12 * c.n_embd * min(w, c.seq_len) / 2 for w in windows)
        return 6 * matmul + attention

    def forward(
        self, idx: Tensor, targets: Tensor | None = None, reduction: str = "mean"
    ) -> Tensor:
        t = idx.size(1)
        cos, sin = self.cos[:, :t], self.sin[:, :t]
        x = x0 = rms_norm(self.wte(idx))
        for i, block in enumerate(self.blocks):
            x = self.resid_lambdas[i] * x + self.x0_lambdas[i] * x0
            x = block(x, cos, sin)
        logits = self.lm_head(rms_norm(x)).float()
        logits = LOGIT_SOFTCAP * torch.tanh(logits / LOGIT_SOFTCAP)
        if targets is None:
            return logits
        return F.cross_entropy(
            logits.view(-1, logits.size(-1)), targets.reshape(-1), reduction=reduction
        )


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


@dataclass
class Recipe:
    """One trial's model and optimisers, plus the hyperparameters the step reads."""

    model: GPT
    optimizers: list[torch.optim.Optimizer]
    config: dict[str, Any]
    # What the step calls: the compiled model on CUDA, the model itself elsewhere.
    forward: Any = None


def model_config(config: dict[str, Any], vocab_size: int, seq_len: int) -> GPTConfig:
    """The GPT shape of a config: width = depth x aspect ratio, rounded up to the head size."""
    depth, head_dim = int(config["DEPTH"]), int(config["HEAD_DIM"])
    width = -(-depth * int(config["ASPECT_RATIO"]) // head_dim) * head_dim
    return GPTConfig(
        vocab_size=vocab_size,
        seq_len=seq_len,
        n_layer=depth,
        n_embd=width,
        head_dim=head_dim,
        window_pattern=str(config["WINDOW_PATTERN"]),
    )


def build(config: dict[str, Any], vocab_size: int, seq_len: int, device: torch.device) -> Recipe:
    """The model (on ``device``) and its optimisers for one trial's hyperparameters."""
    model = GPT(model_config(config, vocab_size, seq_len)).to(device)
    optimizers = build_optimizers(model, config)
    forward = torch.compile(model) if device.type == "cuda" else model
    return Recipe(model=model, optimizers=optimizers, config=dict(config), forward=forward)


def _autocast(device: torch.device) -> contextlib.AbstractContextManager[object]:
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train_step(recipe: Recipe, batches: list[tuple[Tensor, Tensor]], progress: float) -> float:
    """One optimiser step over the micro-batches at budget ``progress``; the mean loss."""
    cfg = recipe.config
    multiplier = lr_multiplier(
        progress,
        float(cfg["WARMUP_RATIO"]),
        float(cfg["WARMDOWN_RATIO"]),
        float(cfg["FINAL_LR_FRAC"]),
    )
    set_lr(recipe.optimizers, multiplier)
    device = next(recipe.model.parameters()).device
    loss_sum = torch.zeros((), device=device)
    for x, y in batches:
        with _autocast(device):
            loss = recipe.forward(x, y)
        (loss / len(batches)).backward()
        loss_sum += loss.detach()
    for opt in recipe.optimizers:
        opt.step()
    recipe.model.zero_grad(set_to_none=True)
    return float(loss_sum) / len(batches)  # syncs the device: the step's time is real
