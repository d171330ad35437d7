"""val_bpb: hand-computed sums, and a model whose prediction is exactly uniform."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from trainer.bpb import bits_per_byte, bpb_sums, evaluate_bpb
from trainer.model import GPT, GPTConfig


def test_bpb_counts_raw_bytes_of_targets_and_skips_special_tokens() -> None:
    # ids 0..3 are 0 (a special token), 1, 2 and 3 bytes long.
    token_bytes = torch.tensor([0, 1, 2, 3])
    targets = torch.tensor([[1, 2], [3, 0]])
    nats = torch.tensor([[0.5, 1.0], [1.5, 9.9]])  # the 9.9 is on the special token
    total_nats, total_bytes = bpb_sums(nats, targets, token_bytes)
    assert total_nats == pytest.approx(3.0)
    assert total_bytes == 6
    # 3 nats over 6 bytes = 0.5 nats/byte = 0.5 / ln 2 bits/byte.
    assert bits_per_byte(total_nats, total_bytes) == pytest.approx(0.5 / math.log(2))
    assert bits_per_byte(3.0, 6) == pytest.approx(0.7213475204444817)


def test_bits_per_byte_rejects_an_empty_validation_set() -> None:
    with pytest.raises(ValueError, match="no validation bytes"):
        bits_per_byte(1.0, 0)


def test_a_uniform_byte_model_scores_exactly_8_bits_per_byte() -> None:
    model = GPT(GPTConfig(vocab_size=256, seq_len=16, n_layer=1, n_embd=32, head_dim=16))
    with torch.no_grad():
        model.lm_head.weight.zero_()  # logits all 0: every byte has probability 1/256
    rows = np.random.default_rng(0).integers(0, 256, size=(5, 17))
    bpb = evaluate_bpb(model, rows, np.ones(256, dtype=np.int32), torch.device("cpu"), batch_rows=2)
    assert bpb == pytest.approx(8.0, abs=1e-5)


def test_multi_byte_tokens_lower_bits_per_byte_in_proportion() -> None:
    model = GPT(GPTConfig(vocab_size=256, seq_len=16, n_layer=1, n_embd=32, head_dim=16))
    with torch.no_grad():
        model.lm_head.weight.zero_()
    rows = np.random.default_rng(1).integers(0, 256, size=(3, 17))
    # Every token 4 bytes long: same nats, four times the bytes.
    bpb = evaluate_bpb(model, rows, np.full(256, 4, dtype=np.int32), torch.device("cpu"))
    assert bpb == pytest.approx(2.0, abs=1e-5)
