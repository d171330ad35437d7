"""Data sets: where the documents come from and how they split into train and validation.

- ``pinned`` (the default): the ``.py`` sources of pure-Python packages pinned in the
  project's lock files (:data:`PINNED_PACKAGES`). Their wheels are ``py3-none-any``, so the
  bytes are the same wherever the lock is installed: the host, the trainer image, a remote
  worker. Its key is a content hash, and a version other than the lock's is an error.
- ``stdlib``: the Python standard library's ``.py`` sources, present on every machine. The
  split is by file, decided by a hash of the path relative to the stdlib root, so it is the
  same on every machine with the same Python version and never depends on directory order.
  Another Python (3.11.2 vs 3.11.7) is other data: results carry a fingerprint of it.
- ``text:PATH``: a UTF-8 text file or a folder of them (split by file hash likewise; a
  single file is split at a line boundary near its end).
- ``climbmix``: Karpathy's ClimbMix parquet shards, fetched by ``bilevel data prepare
  climbmix`` into the cache; the last prepared shard is the validation split.

This module never imports torch: the CLI uses it to reject bad data set names early.
"""

from __future__ import annotations

import hashlib
import os
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Split = Literal["train", "val", "test"]

CACHE_ENV = "BILEVEL_CACHE_DIR"
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "bilevel"
# About 1 file in 20 goes to validation: ~1.5 MB of stdlib source, far more than any
# preset's eval_tokens, while training keeps ~95% of the corpus.
VAL_PERCENT = 5
# A single text file keeps its last 10% (cut at a line break) for validation.
SINGLE_FILE_VAL_FRACTION = 0.1
# Another 1 file in 20 (taken from training) is the held-out test split: no trial is ever
# selected on it, so the final best and baseline scored there are free of selection bias.
TEST_PERCENT = 5
# A single text file gives the 5% before its validation part to test.
SINGLE_FILE_TEST_FRACTION = 0.05
CLIMBMIX_TEXT_COLUMN = "text"
CLIMBMIX_DIRNAME = "climbmix"
DATASET_NAMES = ("pinned", "stdlib", "text:PATH", "climbmix")
# The default corpus: pure-Python wheels pinned (same versions) in requirements/dev.lock and
# every image lock that runs trials, ~6.7 MB of source. A version other than these is
# other data, so resolving refuses it rather than training on it.
PINNED_PACKAGES = {"pydantic": "2.14.4", "rich": "15.0.0", "redis": "8.1.0", "rq": "3.0.0"}


class DatasetError(ValueError):
    """A data set name or path that cannot be used; the message says how to fix it."""


def cache_dir() -> Path:
    """Root of every on-disk cache (tokenizers, token arrays, raw shards)."""
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR).expanduser()


def split_of(relative: str) -> Split:
    """The split a file belongs to, from a hash of its stable relative name."""
    digest = hashlib.sha256(relative.encode("utf-8")).digest()
    bucket = int.from_bytes(digest[:8], "big") % 100
    if bucket < VAL_PERCENT:
        return "val"
    return "test" if bucket < VAL_PERCENT + TEST_PERCENT else "train"


def _in_val(relative: str) -> bool:
    return split_of(relative) == "val"


def _choose(named: list[tuple[str, Path]], split: Split) -> list[Path]:
    """The files of ``split``. A tiny folder whose hash put no file in validation gives its
    last file to validation (deterministic, and the split is never empty)."""
    chosen = {s: [f for n, f in named if split_of(n) == s] for s in ("train", "val", "test")}
    if not chosen["val"] and named:
        last = named[-1][1]
        chosen = {s: [f for f in files if f != last] for s, files in chosen.items()}
        chosen["val"] = [last]
    return chosen[split]


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None  # binary or unreadable files are not text; skip them deterministically


@dataclass(frozen=True)
class Dataset:
    """A resolved data set: a stable cache key and a way to iterate each split's documents."""

    name: str
    key: str  # names the token cache; changes whenever the content would
    kind: Literal["pinned", "stdlib", "text", "climbmix"]
    root: Path
    files: tuple[Path, ...] = ()  # pinned: the corpus files, in a fixed order

    def documents(self, split: Split) -> Iterator[str]:
        if self.kind == "pinned":
            for path in _choose([(_pinned_name(p), p) for p in self.files], split):
                text = _read_text(path)
                if text:
                    yield text
            return
        if self.kind == "climbmix":
            yield from _parquet_documents(self.root, split)
            return
        if self.root.is_file():
            yield from _single_file_split(self.root, split)
            return
        files = _text_files(self.root, self.kind)
        named = [(f.relative_to(self.root).as_posix(), f) for f in files]
        for path in _choose(named, split):
            text = _read_text(path)
            if text:
                yield text


def _text_files(root: Path, kind: str) -> list[Path]:
    if kind == "stdlib":
        paths = (p for p in root.rglob("*.py") if "site-packages" not in p.relative_to(root).parts)
    else:
        paths = (p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    return sorted(paths, key=lambda p: p.relative_to(root).as_posix())


def _single_file_split(path: Path, split: Split) -> Iterator[str]:
    text = _read_text(path) or ""
    cut = text.rfind("\n", 0, int(len(text) * (1 - SINGLE_FILE_VAL_FRACTION))) + 1
    test_at = int(len(text) * (1 - SINGLE_FILE_VAL_FRACTION - SINGLE_FILE_TEST_FRACTION))
    test_cut = text.rfind("\n", 0, test_at) + 1
    part = {"val": text[cut:], "test": text[test_cut:cut], "train": text[:test_cut]}[split]
    if part:
        yield part


def _fingerprint(files: list[Path], root: Path) -> str:
    h = hashlib.sha256()
    for f in files:
        st = f.stat()
        h.update(f"{f.relative_to(root).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def climbmix_dir() -> Path:
    return cache_dir() / CLIMBMIX_DIRNAME


def climbmix_shards() -> list[Path]:
    return sorted(climbmix_dir().glob("shard_*.parquet"))


def _parquet_documents(root: Path, split: Split) -> Iterator[str]:
    import pyarrow.parquet as pq

    shards = sorted(root.glob("shard_*.parquet"))
    # No test split: every shard but the last trains (a test shard would cost a download).
    chosen = {"val": shards[-1:], "train": shards[:-1], "test": []}[split]
    for shard in chosen:
        table = pq.read_table(shard, columns=[CLIMBMIX_TEXT_COLUMN])
        for text in table.column(CLIMBMIX_TEXT_COLUMN).to_pylist():
            if text:
                yield text


def _pinned_name(path: Path) -> str:
    """``pydantic/main.py``: the path inside site-packages, the same on every machine."""
    parts = path.parts
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] in PINNED_PACKAGES:
            return "/".join(parts[i:])
    return path.name


def pinned_files() -> list[Path]:
    """The corpus files of :data:`PINNED_PACKAGES`, ordered by their in-package path."""
    from importlib.metadata import PackageNotFoundError, distribution

    files: list[Path] = []
    for package, wanted in PINNED_PACKAGES.items():
        try:
            dist = distribution(package)
        except PackageNotFoundError:
            raise DatasetError(
                f"data set 'pinned' needs {package}=={wanted} installed (pip install -r the "
                "project's lock), or pick another data set"
            ) from None
        if dist.version != wanted:
            raise DatasetError(
                f"data set 'pinned' needs {package}=={wanted}, this Python has {dist.version}: "
                "that is other data; install the project's lock"
            )
        for item in dist.files or []:
            if item.suffix == ".py" and item.parts and item.parts[0] == package:
                files.append(Path(str(dist.locate_file(item))))
    return sorted(files, key=_pinned_name)


def content_hash(files: list[Path]) -> str:
    """sha256 over each file's stable name and bytes (hex, 16 digits)."""
    h = hashlib.sha256()
    for f in files:
        h.update(f"{_pinned_name(f)}\0".encode())
        h.update(f.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:16]


def resolve(name: str) -> Dataset:
    """Resolve a data set name, or raise :class:`DatasetError` naming the fix."""
    if name == "pinned":
        files = pinned_files()
        if not files:
            raise DatasetError("data set 'pinned' found no source files; reinstall the lock")
        root = files[0].parents[len(Path(_pinned_name(files[0])).parts) - 1]
        key = f"pinned-{content_hash(files)}"
        return Dataset(name, key, "pinned", root, tuple(files))
    if name == "stdlib":
        root = stdlib_root()
        # The interpreter's version and install path identify its stdlib; statting all
        # ~1,800 files for a fingerprint would cost a second on every trial start.
        version = "py{}.{}.{}".format(*sys.version_info[:3])
        where = hashlib.sha256(str(root).encode()).hexdigest()[:8]
        return Dataset(name, f"stdlib-{version}-{where}", "stdlib", root)
    if name.startswith("text:"):
        raw = name.removeprefix("text:")
        if not raw:
            raise DatasetError("data set 'text:' needs a path, e.g. --dataset text:./corpus")
        root = Path(raw).expanduser().resolve()
        if not root.exists():
            raise DatasetError(
                f"data set path {raw!r} does not exist; pass an existing file or folder"
            )
        if not os.access(root, os.R_OK):
            raise DatasetError(f"data set path {raw!r} is not readable; fix its permissions")
        files = [root] if root.is_file() else _text_files(root, "text")
        if not any(_read_text(f) for f in files):
            raise DatasetError(f"data set path {raw!r} holds no readable UTF-8 text")
        base = root.parent if root.is_file() else root
        return Dataset(name, f"text-{root.name}-{_fingerprint(files, base)}", "text", root)
    if name == "climbmix":
        shards = climbmix_shards()
        if len(shards) < 2:
            raise DatasetError(
                "data set 'climbmix' is not prepared; run `bilevel data prepare climbmix` first"
            )
        return Dataset(
            name, f"climbmix-{_fingerprint(shards, climbmix_dir())}", "climbmix", climbmix_dir()
        )
    raise DatasetError(f"unknown data set {name!r}; choose one of: {', '.join(DATASET_NAMES)}")
