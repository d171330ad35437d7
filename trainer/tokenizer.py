"""Tokenizers: raw bytes (the CPU preset) and a byte-level BPE trained and cached on disk.

Both expose ``token_bytes()``: the raw UTF-8 byte length of every token id. ``val_bpb``
divides by the sum of these over the target tokens, so the metric never depends on decoding
text (which would count replacement characters and merged whitespace wrongly). Special
tokens have length 0 and are excluded from the metric.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Protocol

import numpy as np

BOS_TOKEN = "<|bos|>"  # starts every document for BPE; counts 0 bytes in val_bpb
# Cap on the characters fed to BPE training: merges converge long before the full corpus,
# and training time grows linearly with the text.
BPE_TRAIN_MAX_CHARS = 200_000_000
# Documents are encoded in batches: `tokenizers` parallelises within a batch.
BPE_ENCODE_BATCH = 256


class Tokenizer(Protocol):
    """What the data pipeline and the metric need from a tokenizer."""

    name: str
    vocab_size: int

    def encode_documents(self, docs: Iterable[str]) -> Iterator[np.ndarray]:
        """Token ids of each document, in order, ready to be concatenated."""
        ...

    def token_bytes(self) -> np.ndarray:
        """int32 array of length ``vocab_size``: raw byte length of each token id."""
        ...


class ByteTokenizer:
    """One token per UTF-8 byte; 256 ids, each exactly 1 byte long."""

    name = "bytes"
    vocab_size = 256

    def encode_documents(self, docs: Iterable[str]) -> Iterator[np.ndarray]:
        for doc in docs:
            yield np.frombuffer(doc.encode("utf-8"), dtype=np.uint8)

    def token_bytes(self) -> np.ndarray:
        return np.ones(self.vocab_size, dtype=np.int32)


@cache
def _byte_level_alphabet() -> dict[str, int]:
    """GPT-2's byte-to-printable-character map, inverted: the chars BPE tokens are spelled in."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    printable += list(range(ord("®"), ord("ÿ") + 1))
    byte_values, chars = list(printable), list(printable)
    extra = 0
    for b in range(256):
        if b not in byte_values:
            byte_values.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(byte_values, chars, strict=True)}


class BpeTokenizer:
    """A byte-level BPE from the ``tokenizers`` package; id 0 is the BOS special token."""

    def __init__(self, path: Path) -> None:
        from tokenizers import Tokenizer as HFTokenizer

        self.path = path
        self._tok = HFTokenizer.from_file(str(path))
        self.vocab_size = self._tok.get_vocab_size()
        self.bos_id = self._tok.token_to_id(BOS_TOKEN)
        self.name = f"bpe{self.vocab_size}"

    def encode_documents(self, docs: Iterable[str]) -> Iterator[np.ndarray]:
        batch: list[str] = []
        for doc in docs:
            batch.append(doc)
            if len(batch) == BPE_ENCODE_BATCH:
                yield from self._encode_batch(batch)
                batch = []
        if batch:
            yield from self._encode_batch(batch)

    def _encode_batch(self, batch: list[str]) -> Iterator[np.ndarray]:
        for enc in self._tok.encode_batch(batch, add_special_tokens=False):
            yield np.asarray([self.bos_id, *enc.ids], dtype=np.int64)

    def token_bytes(self) -> np.ndarray:
        alphabet = _byte_level_alphabet()
        special = {t.content for t in self._tok.get_added_tokens_decoder().values()}
        lengths = np.zeros(self.vocab_size, dtype=np.int32)
        for token, token_id in self._tok.get_vocab().items():
            if token not in special:
                lengths[token_id] = sum(1 for ch in token if ch in alphabet)
        return lengths


def train_bpe(texts: Iterable[str], vocab_size: int, path: Path) -> BpeTokenizer:
    """Train a byte-level BPE on ``texts`` and save it to ``path`` atomically.

    Concurrent trainers race harmlessly: each writes a private temp file and renames it over
    ``path``; every finished file is a complete, equivalent tokenizer.
    """
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, pre_tokenizers, trainers

    tok = HFTokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[BOS_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_capped(texts, BPE_TRAIN_MAX_CHARS), trainer=trainer)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tok.save(tmp)
    os.chmod(tmp, 0o644)  # mkstemp makes it private; a cache is shared like any other
    os.replace(tmp, path)
    return BpeTokenizer(path)


def _capped(texts: Iterable[str], max_chars: int) -> Iterator[str]:
    used = 0
    for text in texts:
        if used >= max_chars:
            return
        used += len(text)
        yield text


def describe(tokenizer: Tokenizer) -> str:
    """A short JSON description stored next to a token cache, for humans debugging it."""
    return json.dumps({"name": tokenizer.name, "vocab_size": tokenizer.vocab_size})
