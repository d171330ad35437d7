"""The default corpus is the same bytes everywhere: a trial inline (this Python) and in the
trainer image (Debian's Python) gives the same val_bpb and the same data fingerprint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.docker, pytest.mark.slow]

TRAINER_IMAGE = "bilevel/trainer:cpu"
# One optimizer step of cpu-tiny on one thread: CPU float sums depend on the thread count,
# so both sides pin it (the result's `software` records it).
TRIAL = [
    "trial", "--preset", "cpu-tiny", "--budget-tokens", "8192", "--dataset", "pinned",
    "--seed", "0", "--device", "cpu", "--json",
]  # fmt: skip
THREADS = {"BILEVEL_TORCH_THREADS": "1"}


def _result(stdout: str) -> dict[str, Any]:
    return json.loads(stdout.strip().splitlines()[-1])


def test_inline_and_trainer_image_agree_on_the_pinned_corpus(docker_engine: None) -> None:
    inline = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", *TRIAL],
        capture_output=True, text=True, timeout=300, cwd=REPO,
        env={**os.environ, **THREADS, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert inline.returncode == 0, inline.stderr[-2000:]
    image = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "-e", "BILEVEL_TORCH_THREADS=1",
         TRAINER_IMAGE, "bilevel", *TRIAL],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert image.returncode == 0, image.stderr[-2000:]
    here, there = _result(inline.stdout), _result(image.stdout)
    assert here["data_fingerprint"] == there["data_fingerprint"] != ""
    assert here["software"]["torch"] == there["software"]["torch"]
    assert here["val_bpb"] == there["val_bpb"], (here["software"], there["software"])
