"""Tokenizer byte accounting, data set splits, and the on-disk token cache."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from trainer import datasets
from trainer.data import BatchSampler, build_cache, load_tokens, validation_windows
from trainer.tokenizer import BOS_TOKEN, ByteTokenizer, train_bpe

DOCS = [
    "def add(a, b):\n    return a + b\n",
    "naïve café — Grüße, 東京 🚀\n",
    "class Point:\n    x: int = 0\n    y: int = 0\n" * 5,
    "the quick brown fox jumps over the lazy dog\n" * 20,
]


def test_byte_tokenizer_is_one_token_per_utf8_byte() -> None:
    tok = ByteTokenizer()
    (ids,) = tok.encode_documents(["é🚀"])
    assert list(ids) == list("é🚀".encode())
    assert len(ids) == 6
    assert (tok.token_bytes() == 1).all() and len(tok.token_bytes()) == 256


def test_bpe_token_bytes_sum_to_the_raw_utf8_length(tmp_path: Path) -> None:
    tok = train_bpe(DOCS * 3, vocab_size=320, path=tmp_path / "bpe.json")
    lengths = tok.token_bytes()
    assert tok.vocab_size == 320
    assert lengths[tok.bos_id] == 0  # the special token is never scored
    assert lengths.max() > 1  # merges were learned
    for doc, ids in zip(DOCS, tok.encode_documents(DOCS), strict=True):
        assert ids[0] == tok.bos_id
        assert int(lengths[ids].sum()) == len(doc.encode("utf-8"))
    assert tok._tok.token_to_id(BOS_TOKEN) == tok.bos_id


def _corpus(folder: Path, files: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        (folder / f"doc{i:02d}.txt").write_text(f"document {i}\n" + DOCS[i % len(DOCS)] * 4)
    return folder


def test_text_folder_splits_by_file_deterministically_and_both_sides_nonempty(
    tmp_path: Path,
) -> None:
    ds = datasets.resolve(f"text:{_corpus(tmp_path / 'corpus', 40)}")
    train, val = list(ds.documents("train")), list(ds.documents("val"))
    test = list(ds.documents("test"))  # held out from every search decision
    assert train and val
    assert len(train) + len(val) + len(test) == 40
    assert not set(train) & set(val) and not set(test) & (set(train) | set(val))
    again = datasets.resolve(f"text:{tmp_path / 'corpus'}")
    assert again.key == ds.key and list(again.documents("val")) == val


def test_single_text_file_keeps_its_tail_for_validation(tmp_path: Path) -> None:
    path = tmp_path / "book.txt"
    path.write_text("".join(f"line {i}\n" for i in range(100)))
    ds = datasets.resolve(f"text:{path}")
    (train,), (test,), (val,) = ds.documents("train"), ds.documents("test"), ds.documents("val")
    assert train + test + val == path.read_text()
    assert val.startswith("line 9") and val.endswith("line 99\n")


def test_stdlib_split_is_by_hashed_relative_path() -> None:
    ds = datasets.resolve("stdlib")
    assert ds.key.startswith("stdlib-py3.")
    files = datasets._text_files(ds.root, "stdlib")
    assert files == sorted(files, key=lambda p: p.relative_to(ds.root).as_posix())
    val = [f for f in files if datasets._in_val(f.relative_to(ds.root).as_posix())]
    assert 0.02 < len(val) / len(files) < 0.1
    assert datasets._in_val("json/decoder.py") == datasets._in_val("json/decoder.py")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("nope", "unknown data set 'nope'"),
        ("text:", "needs a path"),
        ("text:/definitely/not/here", "does not exist"),
    ],
)
def test_bad_dataset_names_say_what_to_do(name: str, message: str) -> None:
    with pytest.raises(datasets.DatasetError, match=message):
        datasets.resolve(name)


def test_unprepared_climbmix_says_to_prepare_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BILEVEL_CACHE_DIR", str(tmp_path))
    with pytest.raises(datasets.DatasetError, match="bilevel data prepare climbmix"):
        datasets.resolve("climbmix")


def test_token_cache_is_built_once_and_memory_mapped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A cache of its own: other tests build the shared one concurrently (xdist), and their
    # temp folders are theirs to rename, not this test's leftovers.
    monkeypatch.setenv("BILEVEL_CACHE_DIR", str(tmp_path / "cache"))
    ds = datasets.resolve(f"text:{_corpus(tmp_path / 'corpus', 12)}")
    data = load_tokens(ds, "bytes", 256)
    assert isinstance(data.train, np.memmap) and data.train.dtype == np.uint8
    expected = b"".join(d.encode() for d in ds.documents("train"))
    assert bytes(data.train) == expected
    mtime = (data.path / "train.bin").stat().st_mtime_ns
    assert build_cache(ds, ByteTokenizer()) == data.path
    assert (data.path / "train.bin").stat().st_mtime_ns == mtime  # reused, not rebuilt
    leftovers = [p.name for p in data.path.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []  # the temp build folder was renamed away


def test_batches_are_reproducible_from_the_seed_and_targets_shift_by_one() -> None:
    tokens = np.arange(1000, dtype=np.uint16)
    a, b = BatchSampler(tokens, 16, 4, seed=7), BatchSampler(tokens, 16, 4, seed=7)
    for _ in range(3):
        (xa, ya), (xb, yb) = a.next(), b.next()
        assert (xa == xb).all() and (ya == yb).all()
        assert (ya[:, :-1] == xa[:, 1:]).all()


def test_validation_windows_are_the_fixed_prefix_of_the_val_split() -> None:
    val = np.arange(100, dtype=np.uint16)
    rows = validation_windows(val, seq_len=10, max_tokens=35)
    assert rows.shape == (3, 11)
    assert rows[1, 0] == 10 and rows[2, -1] == 30


def test_climbmix_is_prepared_from_parquet_shards_with_the_last_one_for_validation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bilevel_cli: list[str]
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    monkeypatch.setenv("BILEVEL_CACHE_DIR", str(tmp_path / "cache"))
    source = tmp_path / "shards"
    source.mkdir()
    for i in range(3):
        texts = [f"shard {i} doc {j}: " + DOCS[j % len(DOCS)] for j in range(5)]
        table = pa.table({"text": texts, "id": list(range(5))})
        pq.write_table(table, source / f"shard_{i:05d}.parquet")
    prepare = [*bilevel_cli, "data", "prepare", "climbmix", "--preset", "cpu-tiny"]
    out = subprocess.run(
        [*prepare, "--shards", "2", "--source", str(source)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "climbmix: 3 shards in the cache" in out.stdout

    ds = datasets.resolve("climbmix")
    val = list(ds.documents("val"))
    assert len(val) == 5 and all(t.startswith("shard 2 ") for t in val)
    data = load_tokens(ds, "bytes", 256)
    assert bytes(data.val) == "".join(val).encode()
    assert len(data.train) == sum(len(t.encode()) for t in ds.documents("train"))
    assert f"train_tokens: {len(data.train)}" in out.stdout


def test_climbmix_prepare_rejects_a_folder_without_shards(
    tmp_path: Path, bilevel_cli: list[str]
) -> None:
    prepare = [*bilevel_cli, "data", "prepare", "climbmix", "--source", str(tmp_path)]
    out = subprocess.run(prepare, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.startswith("error: --source") and "fewer than 2 shard_*.parquet" in out.stderr


def test_concurrent_builders_of_one_cache_all_get_the_complete_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BILEVEL_CACHE_DIR", str(tmp_path / "cache"))  # inherited by the builders
    corpus = _corpus(tmp_path / "corpus", 30)
    probe = (
        "import sys; from trainer import datasets; from trainer.data import load_tokens; "
        "d = load_tokens(datasets.resolve(sys.argv[1]), 'bytes', 256); "
        "print(len(d.train), len(d.val), d.path)"
    )
    builders = [
        subprocess.Popen(
            [sys.executable, "-c", probe, f"text:{corpus}"], stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    outputs = [b.communicate(timeout=120)[0].strip() for b in builders]
    assert all(b.returncode == 0 for b in builders)
    assert len(set(outputs)) == 1  # same sizes, same folder, whoever won the rename
    folder = Path(outputs[0].split()[2])
    assert [p.name for p in folder.parent.iterdir() if p.name.startswith(".")] == []
    expected = sum(len(d.encode()) for d in datasets.resolve(f"text:{corpus}").documents("train"))
    assert int(outputs[0].split()[0]) == expected
