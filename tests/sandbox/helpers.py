"""Shared by the sandbox and security tests: real backends, the quickstart space, limits."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, docker_available, need

# Short per-call limits keep hang cases to a second or two; loading scikit-learn on a busy
# 2-core machine still fits in the load limit.
FAST_LIMITS = {"call_seconds": 1.5, "load_seconds": 15.0}
FAST_DEADLINE_S = 30.0


def quickstart_space() -> list[dict[str, Any]]:
    from trainer.presets import get_preset

    return [p.to_dict() for p in get_preset("cpu-tiny").space.params]


def ensure_sandbox_image() -> None:
    """The sandbox image exists (built by `make images`; quick when up to date)."""
    need(docker_available(), "no Docker engine answers (`docker info` failed)")
    from sandbox.backends.docker import image_exists

    if not image_exists():
        # Same script as `make images`; a no-op when the image is up to date.
        subprocess.run(
            ["bash", str(REPO / "images" / "build.sh"), "sandbox"], check=False, timeout=900
        )
    if not image_exists():
        pytest.fail(
            "the sandbox image bilevel/sandbox:latest is missing and `images/build.sh sandbox` failed"
        )


def make_test_backend(name: str) -> Any:
    if name == "docker":
        ensure_sandbox_image()
        from sandbox.backends.docker import DockerBackend

        return DockerBackend()
    from sandbox.backends.process import ProcessBackend

    return ProcessBackend()


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")
