"""Schedules, attention window patterns and masks, and the optimiser split."""

from __future__ import annotations

import pytest
import torch

from trainer.model import (
    GPT,
    CausalSelfAttention,
    GPTConfig,
    apply_rotary,
    rotary_tables,
    window_mask,
    window_sizes,
)
from trainer.optim import Muon, build_optimizers, lr_multiplier, zeropower_via_newtonschulz
from trainer.presets import PRESETS


@pytest.mark.parametrize(
    ("progress", "expected"),
    [(0.0, 0.0), (0.05, 0.5), (0.1, 1.0), (0.3, 1.0), (0.5, 1.0), (0.75, 0.55), (1.0, 0.1)],
)
def test_lr_multiplier_warmup_flat_warmdown_to_final_fraction(
    progress: float, expected: float
) -> None:
    assert lr_multiplier(progress, warmup=0.1, warmdown=0.5, final_frac=0.1) == pytest.approx(
        expected, abs=1e-6
    )


def test_lr_multiplier_without_warmup_starts_at_peak_and_ends_at_zero() -> None:
    assert lr_multiplier(0.0, 0.0, 0.5, 0.0) == 1.0
    assert lr_multiplier(1.0, 0.0, 0.5, 0.0) == 0.0
    assert lr_multiplier(0.9, 0.0, 0.0, 0.0) == 1.0  # no warm-down: flat to the end


@pytest.mark.parametrize(
    ("pattern", "n_layer", "expected"),
    [
        ("SSSL", 4, [64, 64, 64, 128]),
        ("SSSL", 2, [64, 128]),  # the last layer is always full
        ("SL", 5, [64, 128, 64, 128, 128]),
        ("L", 3, [128, 128, 128]),
        ("SSSSL", 1, [128]),
    ],
)
def test_window_pattern_cycles_over_layers_and_ends_full(
    pattern: str, n_layer: int, expected: list[int]
) -> None:
    assert window_sizes(pattern, n_layer, seq_len=128) == expected


def test_window_mask_is_causal_and_limited_to_the_window() -> None:
    mask = window_mask(6, 3)
    for i in range(6):
        for j in range(6):
            assert bool(mask[i, j]) == (j <= i and i - j < 3), (i, j)


def test_short_window_attention_ignores_tokens_outside_its_window() -> None:
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=256, seq_len=8, n_layer=1, n_embd=32, head_dim=16)
    attn = CausalSelfAttention(config, window=4)
    cos, sin = rotary_tables(8, 16)
    x = torch.randn(1, 8, 32)
    changed = x.clone()
    changed[0, 0] += 5.0  # perturb position 0 only
    with torch.no_grad():
        torch.nn.init.normal_(attn.c_proj.weight)
        y, y_changed = attn(x, cos, sin), attn(changed, cos, sin)
    differs = (y - y_changed).abs().amax(dim=-1)[0]
    assert differs[:4].min() > 0  # positions 0..3 see position 0
    assert differs[4:].max() == 0  # positions 4..7 are more than 3 tokens away


def test_every_parameter_has_exactly_one_optimiser() -> None:
    model = GPT(GPTConfig(vocab_size=256, seq_len=16, n_layer=2, n_embd=64, head_dim=32))
    optimizers = build_optimizers(model, PRESETS["cpu-tiny"].space.defaults())
    owned = [id(p) for opt in optimizers for g in opt.param_groups for p in g["params"]]
    assert sorted(owned) == sorted(id(p) for p in model.parameters())
    muon = next(opt for opt in optimizers if isinstance(opt, Muon))
    assert all(p.dim() == 2 for g in muon.param_groups for p in g["params"])
    assert id(model.wte.weight) not in {id(p) for g in muon.param_groups for p in g["params"]}


def test_newton_schulz_output_is_nearly_orthogonal() -> None:
    g = torch.randn(32, 64, generator=torch.Generator().manual_seed(0))
    singular = torch.linalg.svdvals(zeropower_via_newtonschulz(g))
    # The quintic iteration trades exactness for speed: singular values land near 1.
    assert singular.min() > 0.5 and singular.max() < 1.3


def test_rotary_scores_depend_only_on_relative_position() -> None:
    cos, sin = rotary_tables(16, 8)
    q, k = torch.randn(8), torch.randn(8)
    # The same q and k placed at every position: (1, T, 1, 1, D) like a real batch.
    rq = apply_rotary(q.expand(1, 16, 1, 1, 8), cos, sin)[0, :, 0, 0]
    rk = apply_rotary(k.expand(1, 16, 1, 1, 8), cos, sin)[0, :, 0, 0]
    assert torch.allclose(rq.norm(dim=-1), q.norm().expand(16), atol=1e-5)  # a pure rotation
    assert torch.allclose(rq[5] @ rk[2], rq[13] @ rk[10], atol=1e-5)  # offset 3 both times
    assert not torch.allclose(rq[5] @ rk[2], rq[5] @ rk[4], atol=1e-3)
