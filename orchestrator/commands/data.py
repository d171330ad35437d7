"""`bilevel data prepare DATASET`: fetch and tokenize a data set ahead of any trial.

``climbmix`` downloads Karpathy's ClimbMix parquet shards (needs internet) or copies them
from a local folder (``--source DIR``), then tokenizes them for a preset. ``pinned`` (the
default), ``stdlib`` and ``text:PATH`` need no download; preparing them just builds the token
cache so the first trial starts at once. Tokenization is never inside a trial's budget either way.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.request
from pathlib import Path
from typing import BinaryIO

import typer

from orchestrator.errors import UserError

CLIMBMIX_BASE_URL = "https://huggingface.co/datasets/karpathy/climbmix-400b-shuffle/resolve/main"
# The pinned validation shard of autoresearch's prepare.py: the last one of the data set.
CLIMBMIX_VAL_SHARD = 6542
# autoresearch's default: 10 training shards (~1 GB of text) plus the validation shard.
DEFAULT_CLIMBMIX_SHARDS = 10
DOWNLOAD_TIMEOUT_S = 60


def shard_name(index: int) -> str:
    return f"shard_{index:05d}.parquet"


def _install(target: Path, name: str, source: BinaryIO) -> None:
    """Copy ``source`` to ``target/name`` via a temp file: readers never see a partial shard."""
    fd, tmp = tempfile.mkstemp(dir=target, prefix=f".{name}.")
    try:
        with open(fd, "wb") as out:
            shutil.copyfileobj(source, out)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target / name)
    except BaseException:  # Ctrl-C included: no half-written file is left; re-raised
        Path(tmp).unlink(missing_ok=True)
        raise


def fetch_climbmix(shards: int, source: str | None) -> list[str]:
    """Put ``shards`` training shards and the validation shard into the cache folder."""
    from trainer.datasets import climbmix_dir

    target = climbmix_dir()
    if source and not source.startswith(("http://", "https://")):
        folder = Path(source).expanduser()
        local = sorted(folder.glob("shard_*.parquet")) if folder.is_dir() else []
        if len(local) < 2:
            raise UserError(
                f"--source {source!r} holds fewer than 2 shard_*.parquet files; "
                "point it at a folder of ClimbMix shards (the last one is used for validation)"
            )
        names = list(dict.fromkeys([p.name for p in local[:shards]] + [local[-1].name]))
        target.mkdir(parents=True, exist_ok=True)
        for name in names:
            with (folder / name).open("rb") as fh:
                _install(target, name, fh)
        return names
    base = source or CLIMBMIX_BASE_URL
    names = [shard_name(i) for i in range(shards)] + [shard_name(CLIMBMIX_VAL_SHARD)]
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        if (target / name).exists():
            continue
        url = f"{base}/{name}"
        try:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as resp:
                _install(target, name, resp)
        except OSError as exc:
            raise UserError(
                f"could not download {url} ({exc}); check the network or use --source DIR"
            ) from None
    return names


def register(app: typer.Typer) -> None:
    data_app = typer.Typer(
        help="Prepare data sets (download, tokenize) ahead of trials.", no_args_is_help=True
    )
    app.add_typer(data_app, name="data")

    @data_app.command("prepare")
    def prepare_command(
        dataset: str = typer.Argument(
            ..., help="pinned (the default data of every preset), stdlib, climbmix or text:PATH"
        ),
        preset: str = typer.Option(
            "paper-gpt50m", help="preset whose tokenizer to build the cache for"
        ),
        shards: int = typer.Option(
            DEFAULT_CLIMBMIX_SHARDS, help="climbmix: training shards to fetch"
        ),
        source: str | None = typer.Option(
            None, help="climbmix: a base URL or a local folder of shards"
        ),
    ) -> None:
        """Download (climbmix) and tokenize a data set into the cache."""
        from trainer.data import load_tokens
        from trainer.datasets import DatasetError, resolve
        from trainer.presets import PRESETS

        if preset not in PRESETS:
            raise UserError(f"unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}")
        if shards < 1:
            raise UserError(f"--shards must be at least 1, got {shards}")
        if dataset == "climbmix":
            fetched = fetch_climbmix(shards, source)
            typer.echo(f"climbmix: {len(fetched)} shards in the cache")
        try:
            resolved = resolve(dataset)
        except DatasetError as exc:
            raise UserError(str(exc)) from None
        chosen = PRESETS[preset]
        data = load_tokens(resolved, chosen.tokenizer, chosen.vocab_size)
        typer.echo(
            f"dataset: {dataset}\ntrain_tokens: {len(data.train)}\nval_tokens: {len(data.val)}"
        )
        typer.echo(f"cache: {data.path}")
