"""Warm backends: the next sandbox starts ahead of time, yet every call gets a fresh one."""

from __future__ import annotations

import time
from typing import Any

import pytest

from sandbox.backends import make_backend
from sandbox.contexts import contract_contexts
from sandbox.ladder import call_stage, source_sha
from tests.sandbox.helpers import ensure_sandbox_image

# Leaves a file in /tmp (docker's tmpfs; the process jail has no writable /tmp) and reports
# whether an earlier call's file was there: a reused sandbox would show it.
TOUCH = """import os

from sandbox.api import Context, Guidance, Mechanism


class Toucher(Mechanism):
    name = "toucher"

    def guide(self, ctx: Context):
        seen = os.path.exists("/tmp/warm-marker")
        try:
            open("/tmp/warm-marker", "w").close()
        except OSError:
            pass
        return Guidance(hint="seen" if seen else "fresh")
"""


@pytest.mark.parametrize("name", [pytest.param("docker", marks=pytest.mark.docker), "process"])
def test_warm_backend_serves_fresh_sandboxes(name: str, space: list[dict[str, Any]]) -> None:
    if name == "docker":
        ensure_sandbox_image()
    backend = make_backend(name, warm=True)
    ctx = contract_contexts(space, [])[0][1]
    ref = [("toucher", source_sha(TOUCH), TOUCH)]
    hints = []
    try:
        for _ in range(3):
            result = call_stage("guide", ref, ctx, backend=backend)
            assert result.outputs[0].ok, result.outputs[0].error
            hints.append(result.outputs[0].value["hint"])
            time.sleep(1.0)  # the refill happens in the background between calls
    finally:
        slot = backend.warm_slot("call:guide")
        warm = slot._ready[0] if slot and slot._ready else None
        backend.close()
        assert backend._slots == {}  # type: ignore[attr-defined]
    assert hints == ["fresh"] * 3
    if name == "docker" and warm is not None:
        import docker.errors

        with pytest.raises(docker.errors.NotFound):
            backend.client.api.inspect_container(warm[0])  # type: ignore[attr-defined]


GP_LIKE = """import statistics

from sklearn.gaussian_process import GaussianProcessRegressor

from sandbox.api import Candidate, Context, Mechanism


class Fit(Mechanism):
    name = "fit"

    def propose(self, ctx: Context):
        ys = [t.val_bpb for t in ctx.history if t.val_bpb is not None]
        if len(ys) < 2:
            return []
        xs = [[float(i)] for i in range(len(ys))]
        guess = GaussianProcessRegressor(random_state=0).fit(xs, ys).predict([[len(ys)]])[0]
        name = ctx.tunable()[0].name
        rationale = f"next {guess:.4f} around {statistics.fmean(ys):.4f}"
        return [Candidate(changes={name: ctx.base[name]}, rationale=rationale)]
"""


def test_preload_names_what_the_stage_imports_and_nothing_else() -> None:
    from sandbox.backends.base import preload_modules

    request = {
        "op": "call",
        "stage": "propose",
        "mechanisms": [
            {"source": GP_LIKE},
            {"source": "import os as o\nfrom . import x\nfrom sandbox.api import Mechanism\n"},
            {"source": "def broken(:\n"},  # not parseable: contributes nothing
        ],
    }
    assert preload_modules(request) == ("statistics", "sklearn.gaussian_process", "os")


@pytest.mark.parametrize("name", [pytest.param("docker", marks=pytest.mark.docker), "process"])
def test_each_mechanism_and_stage_gets_its_own_warm_sandbox_with_its_imports_loaded(
    name: str, space: list[dict[str, Any]]
) -> None:
    """A study's back-to-back hook calls each find a sandbox started for that mechanism
    and stage (mechanisms never share one), its worker having imported what the mechanism
    imports; the answers are the same as from a cold sandbox."""
    if name == "docker":
        ensure_sandbox_image()
    cold = make_backend(name)
    warm = make_backend(name, warm=True)
    ctx = dict(contract_contexts(space, []))["long-history"]  # the GP has data
    sha = source_sha(GP_LIKE)
    ref = [("fit", sha, GP_LIKE)]
    try:
        expected = call_stage("propose", ref, ctx, backend=cold)
        assert expected.outputs[0].ok, expected.outputs[0].error
        for _ in range(2):
            got = call_stage("propose", ref, ctx, backend=warm)
            assert got.outputs[0].ok, got.outputs[0].error
            assert got.outputs[0].value == expected.outputs[0].value
            time.sleep(1.0)
        args = warm.harness_args(f"call:propose:fit:{sha}")
        assert args == ["--prefork", "1", "--preload", "statistics,sklearn.gaussian_process"]
        assert warm.harness_args(f"call:guide:fit:{sha}") == ["--prefork", "1"]  # nothing learnt
        assert set(warm._slots) == {f"call:propose:fit:{sha}"}  # type: ignore[attr-defined]
    finally:
        warm.close()
        cold.close()


def test_warm_slots_are_capped_least_recently_used_first() -> None:
    from sandbox.backends.base import MAX_WARM_SLOTS
    from sandbox.backends.process import ProcessBackend

    backend = ProcessBackend(warm=True)
    try:
        keys = [f"call:guide:m{i}:0" for i in range(MAX_WARM_SLOTS + 1)]
        for key in keys[:-1]:
            backend.warm_slot(key)
        backend.warm_slot(keys[0])  # used again: now the most recent
        backend.warm_slot(keys[-1])
        assert len(backend._slots) == MAX_WARM_SLOTS  # type: ignore[attr-defined]
        assert keys[0] in backend._slots and keys[1] not in backend._slots  # type: ignore[attr-defined]
    finally:
        backend.close()


def test_a_call_takes_the_warm_sandbox_still_starting_rather_than_none() -> None:
    from sandbox.backends.base import WarmSlot

    def slow_start() -> str:
        time.sleep(0.5)
        return "sandbox"

    slot: WarmSlot[str] = WarmSlot(slow_start, lambda _: True, lambda _: None)
    try:
        slot.refill()
        time.sleep(0.1)  # the start is under way
        assert slot.take() == "sandbox"
    finally:
        slot.close()
