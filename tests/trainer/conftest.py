"""Fixtures for the trainer tests: one private token cache per test session.

Every trial (in-process, CLI subprocess or rq worker) inherits ``BILEVEL_CACHE_DIR``, so the
stdlib corpus is tokenized once per session, never into the user's real cache.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def trainer_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("bilevel-cache")
    previous = os.environ.get("BILEVEL_CACHE_DIR")
    os.environ["BILEVEL_CACHE_DIR"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("BILEVEL_CACHE_DIR", None)
    else:
        os.environ["BILEVEL_CACHE_DIR"] = previous
