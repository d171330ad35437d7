"""Fixtures: the same real backends and search space as the sandbox tests."""

from tests.sandbox.conftest import backend, process_backend, space

__all__ = ["backend", "process_backend", "space"]
