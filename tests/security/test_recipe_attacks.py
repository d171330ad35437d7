"""The recipe attack suite: each hostile edit is refused or fails without changing the metric.

Runs on the bubblewrap process jail, and on the Docker jail where the trainer image is
present (``BILEVEL_RECIPE_IMAGE`` names another tag than ``bilevel/trainer:cpu``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.security import recipe_payloads as payloads
from tests.trainer.recipe_edits import code_spec
from trainer.codetrial import train_code_trial
from trainer.jail import BACKEND_ENV, DEFAULT_IMAGE, IMAGE_ENV
from trainer.spec import TrialResult

# One jailed recipe at a time across xdist workers: the fork-bomb test's scan for leftover
# jailed processes must not count another test's jail still running (it cannot tell whose
# a /jail/recipe_child.py process is), and two trainings at once only slow each other.
pytestmark = pytest.mark.xdist_group("recipe-jail")

# Every trial here is two optimiser steps; a contained attack must not stretch it past this.
TRIAL_WALL_LIMIT_S = 240


def _image_present() -> bool:
    if shutil.which("docker") is None:
        return False
    image = os.environ.get(IMAGE_ENV, DEFAULT_IMAGE)
    probe = subprocess.run(["docker", "image", "inspect", image], capture_output=True, check=False)
    return probe.returncode == 0


BACKENDS = [
    "process",
    pytest.param(
        "docker",
        marks=pytest.mark.skipif(not _image_present(), reason="no trainer image for the jail"),
    ),
]


@pytest.fixture(scope="module", params=BACKENDS)
def jail(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def baseline(jail: str) -> TrialResult:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(BACKEND_ENV, jail)
        result = train_code_trial(code_spec(""))
    assert result.status == "ok", result.error
    return result


def _run(jail: str, patch: str, monkeypatch: pytest.MonkeyPatch) -> TrialResult:
    monkeypatch.setenv(BACKEND_ENV, jail)
    started = time.monotonic()
    result = train_code_trial(code_spec(patch))
    assert time.monotonic() - started < TRIAL_WALL_LIMIT_S
    assert "LEAKED" not in result.error, result.error
    return result


def _jailed_processes() -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"/jail/recipe_child.py" in cmdline:
            found.append(pid)
    return found


@pytest.mark.parametrize(
    "patch",
    [
        pytest.param(payloads.read_data(), id="read-validation-and-test-data"),
        pytest.param(payloads.SOCKET, id="open-a-socket"),
        pytest.param(payloads.write_outside(), id="write-outside-scratch"),
        pytest.param(payloads.BUDGET, id="touch-the-budget-counters"),
        pytest.param(payloads.HARNESS_PATCH, id="patch-the-harness-through-imports"),
    ],
)
def test_a_contained_attack_scores_exactly_the_unpatched_recipe(
    jail: str, baseline: TrialResult, patch: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run(jail, patch, monkeypatch)
    assert result.status == "ok", result.error
    assert result.val_bpb == baseline.val_bpb
    assert result.tokens == baseline.tokens


def test_a_model_that_attends_to_future_tokens_is_refused_by_the_probe(
    jail: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run(jail, payloads.LOOKAHEAD, monkeypatch)
    assert result.status == "invalid"
    assert "causality probe" in result.error and "looks ahead" in result.error
    assert result.val_bpb is None


def test_a_fork_bomb_is_bounded_and_leaves_nothing_running(
    jail: str, baseline: TrialResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run(jail, payloads.FORK_BOMB, monkeypatch)
    assert result.status in ("ok", "crashed", "timeout"), result.error
    if result.status == "ok":
        assert result.val_bpb == baseline.val_bpb
    assert _jailed_processes() == []
