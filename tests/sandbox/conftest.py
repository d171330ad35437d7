"""Fixtures: both real sandbox backends and the quickstart search space."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sandbox.helpers import make_test_backend, quickstart_space


@pytest.fixture(
    scope="session", params=[pytest.param("docker", marks=pytest.mark.docker), "process"]
)
def backend(request: pytest.FixtureRequest) -> Any:
    """Each backend in turn; the docker one needs the engine and the built image."""
    return make_test_backend(request.param)


@pytest.fixture(scope="session")
def process_backend() -> Any:
    return make_test_backend("process")


@pytest.fixture(scope="session")
def space() -> list[dict[str, Any]]:
    return quickstart_space()
