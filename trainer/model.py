"""The GPT of Karpathy's autoresearch ``train.py``, at any scale.

RMSNorm without weights, rotary position embeddings, QK-norm, ReLU² MLP, causal attention
whose window follows a per-layer pattern (``S`` = half the context, ``L`` = the full
context, cycled over layers, the last layer always ``L``), per-layer residual and
input-skip scalars, and a tanh soft-cap on the logits. Untied embedding and head.
"""

from __future__ import annotations

from dataclasses import dataclass

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
