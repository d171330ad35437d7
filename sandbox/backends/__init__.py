"""Sandbox backends: ``docker`` (the production boundary) and ``process`` (development).

:func:`make_backend` picks one by name; ``auto`` is docker when an engine answers and the
sandbox image exists, else process (with a loud warning about the weaker isolation).
"""

from __future__ import annotations

from sandbox.backends.base import (
    ISOLATION_LEVELS,
    STRONG_ISOLATION,
    Backend,
    RawRun,
    SandboxRun,
    SandboxUnavailable,
    parse_report,
)

BACKEND_NAMES = ("auto", "docker", "process")


def make_backend(name: str = "auto", *, warm: bool = False) -> Backend:
    """A backend by name: ``ValueError`` for an unknown name, :class:`SandboxUnavailable`
    (naming the fix) when the named one cannot run on this host."""
    if name not in BACKEND_NAMES:
        raise ValueError(f"unknown sandbox backend {name!r}; use one of {', '.join(BACKEND_NAMES)}")
    if name in ("auto", "docker"):
        from sandbox.backends.docker import (
            DockerBackend,
            engine_answers,
            image_exists,
            sandbox_image,
        )

        if engine_answers() and image_exists():
            return DockerBackend(warm=warm)
        if name == "docker":
            if not engine_answers():
                raise SandboxUnavailable(
                    "no Docker engine answers; start dockerd or use --backend process"
                )
            raise SandboxUnavailable(
                f"the sandbox image {sandbox_image()} is missing; build it with `make images`"
            )
    from sandbox.backends.process import ProcessBackend

    return ProcessBackend(warm=warm)


__all__ = [
    "BACKEND_NAMES",
    "ISOLATION_LEVELS",
    "STRONG_ISOLATION",
    "Backend",
    "RawRun",
    "SandboxRun",
    "SandboxUnavailable",
    "make_backend",
    "parse_report",
]
