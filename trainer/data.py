"""Tokenized data on disk: built once per (data set, tokenizer), then memory-mapped.

Layout: ``$BILEVEL_CACHE_DIR/tokens/<dataset key>--<tokenizer>/{train,val}.bin`` plus
``meta.json``. A cache is built in a private temp folder and renamed into place in one
step, so concurrent workers never read a half-written cache; a worker that loses the race
discards its copy and uses the winner's. Tokenization therefore never runs inside a trial's
budget: :func:`load_tokens` is called before the clock starts.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainer.datasets import Dataset, Split, cache_dir
from trainer.tokenizer import BpeTokenizer, ByteTokenizer, Tokenizer, describe, train_bpe

SPLITS: tuple[Split, ...] = ("train", "val", "test")
# Cache layout version: v2 added the test split; older caches are rebuilt beside them.
CACHE_VERSION = "v2"
# Tokens are appended to the output file in chunks of about this many, bounding memory
# while tokenizing a large corpus.
WRITE_CHUNK_TOKENS = 1 << 22


def _dtype_for(vocab_size: int) -> np.dtype:
    # The smallest dtype halves (or quarters) the cache and the page-cache traffic.
    if vocab_size <= 1 << 8:
        return np.dtype(np.uint8)
    if vocab_size <= 1 << 16:
        return np.dtype(np.uint16)
    return np.dtype(np.uint32)


def get_tokenizer(kind: str, vocab_size: int, dataset: Dataset) -> Tokenizer:
    """The preset's tokenizer; a BPE one is trained on the train split once and cached."""
    if kind == "bytes":
        return ByteTokenizer()
    if kind != "bpe":
        raise ValueError(f"unknown tokenizer kind {kind!r}")
    path = cache_dir() / "tokenizers" / f"{dataset.key}--bpe{vocab_size}.json"
    if path.exists():
        return BpeTokenizer(path)
    return train_bpe(dataset.documents("train"), vocab_size, path)


@dataclass(frozen=True)
class TokenData:
    """Memory-mapped token ids of both splits and the tokenizer's byte lengths."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray  # the held-out split no trial is selected on (may be empty)
    token_bytes: np.ndarray
    vocab_size: int
    path: Path
    # sha256 (16 hex) of both splits' token ids and the tokenizer's byte table: exactly what
    # a trial trains and is scored on. Two results are comparable only when these agree.
    fingerprint: str = ""


def _write_split(tokenizer: Tokenizer, dataset: Dataset, split: Split, out: Path) -> int:
    dtype = _dtype_for(tokenizer.vocab_size)
    count = 0
    pending: list[np.ndarray] = []
    pending_size = 0
    with out.open("wb") as fh:
        for ids in tokenizer.encode_documents(dataset.documents(split)):
            pending.append(ids)
            pending_size += len(ids)
            if pending_size >= WRITE_CHUNK_TOKENS:
                fh.write(np.concatenate(pending).astype(dtype).tobytes())
                count, pending, pending_size = count + pending_size, [], 0
        if pending:
            fh.write(np.concatenate(pending).astype(dtype).tobytes())
            count += pending_size
        fh.flush()
        os.fsync(fh.fileno())
    return count


def _make_shareable(folder: Path) -> None:
    """World-readable, like any cache: trainers in containers may run as another uid."""
    folder.chmod(0o755)
    for item in folder.iterdir():
        item.chmod(0o644)


def build_cache(dataset: Dataset, tokenizer: Tokenizer) -> Path:
    """Tokenize both splits into the cache (if absent) and return the cache folder."""
    final = cache_dir() / "tokens" / f"{dataset.key}--{tokenizer.name}--{CACHE_VERSION}"
    if (final / "meta.json").exists():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}."))
    try:
        counts = {
            split: _write_split(tokenizer, dataset, split, tmp / f"{split}.bin") for split in SPLITS
        }
        for split, n in counts.items():
            if n < 2 and split != "test":  # a data set may have no test split (climbmix)
                raise ValueError(f"data set {dataset.name!r} has no {split} text after splitting")
        np.save(tmp / "token_bytes.npy", tokenizer.token_bytes())
        meta = {"dataset": dataset.name, "key": dataset.key, "tokens": counts}
        meta["fingerprint"] = token_fingerprint(tmp)
        meta["tokenizer"] = json.loads(describe(tokenizer))
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
        _make_shareable(tmp)
        try:
            os.rename(tmp, final)  # atomic; fails if another worker finished first
        except OSError:
            if not (final / "meta.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def token_fingerprint(folder: Path) -> str:
    """sha256 (16 hex) of a cache folder's splits and byte table, in a fixed order."""
    h = hashlib.sha256()
    for name in (*(f"{s}.bin" for s in SPLITS), "token_bytes.npy"):
        h.update(name.encode() + b"\0")
        with (folder / name).open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


def load_tokens(dataset: Dataset, tokenizer_kind: str, vocab_size: int) -> TokenData:
    """Memory-map the cached tokens, building the cache first if needed."""
    tokenizer = get_tokenizer(tokenizer_kind, vocab_size, dataset)
    if tokenizer.vocab_size > vocab_size:
        raise ValueError(
            f"tokenizer has {tokenizer.vocab_size} ids but the model only {vocab_size}"
        )
    folder = build_cache(dataset, tokenizer)
    dtype = _dtype_for(tokenizer.vocab_size)
    train, val, test = (_map(folder / f"{s}.bin", dtype) for s in SPLITS)
    token_bytes = np.load(folder / "token_bytes.npy")
    meta = json.loads((folder / "meta.json").read_text())
    # Caches written before fingerprints existed are hashed on load (tens of milliseconds).
    fingerprint = meta.get("fingerprint") or token_fingerprint(folder)
    return TokenData(train, val, test, token_bytes, vocab_size, folder, fingerprint)


def _map(path: Path, dtype: np.dtype) -> np.ndarray:
    # np.memmap refuses an empty file; an empty split is an empty array.
    if path.stat().st_size == 0:
        return np.zeros(0, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r")


class BatchSampler:
    """Random contiguous windows of the train split, from a seeded generator.

    Same seed, same sequence of batches: the ``tokens`` budget is reproducible because of it.
    """

    def __init__(self, tokens: np.ndarray, seq_len: int, batch_size: int, seed: int) -> None:
        if len(tokens) <= seq_len + 1:
            raise ValueError(f"train split has {len(tokens)} tokens; need more than {seq_len + 1}")
        self.tokens, self.seq_len, self.batch_size = tokens, seq_len, batch_size
        self.rng = np.random.default_rng(seed)

    def next(self) -> tuple[np.ndarray, np.ndarray]:
        starts = self.rng.integers(0, len(self.tokens) - self.seq_len - 1, size=self.batch_size)
        window = np.stack([self.tokens[s : s + self.seq_len + 1] for s in starts]).astype(np.int64)
        return window[:, :-1], window[:, 1:]


def validation_windows(val: np.ndarray, seq_len: int, max_tokens: int) -> np.ndarray:
    """The fixed validation set: the first ``max_tokens`` targets of the val split, as rows.

    Deterministic by construction (no sampling); rows of ``seq_len + 1`` tokens where the
    first ``seq_len`` are inputs and the last ``seq_len`` are targets.
    """
    rows = min(max_tokens // seq_len, (len(val) - 1) // seq_len)
    if rows < 1:
        raise ValueError(f"val split has {len(val)} tokens; need at least {seq_len + 1}")
    idx = np.arange(rows)[:, None] * seq_len + np.arange(seq_len + 1)[None, :]
    return np.asarray(val[idx], dtype=np.int64)
