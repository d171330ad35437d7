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
        slot = backend._slot  # type: ignore[attr-defined]
        warm = slot._ready[0] if slot and slot._ready else None
        backend.close()
        assert backend._slot is None  # type: ignore[attr-defined]
    assert hints == ["fresh"] * 3
    if name == "docker" and warm is not None:
        import docker.errors

        with pytest.raises(docker.errors.NotFound):
            backend.client.api.inspect_container(warm[0])  # type: ignore[attr-defined]
