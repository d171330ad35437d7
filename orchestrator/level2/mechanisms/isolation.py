"""No weak sandbox for untrusted code by default (DESIGN §2).

Code an LLM wrote never runs under a weaker jail than bubblewrap unless the user opts in
explicitly. A sandbox's strength is its client's ``isolation`` (``sandbox.backends.base``):
``docker`` and ``bwrap`` are strong; ``unshare`` leaves the host's files readable and
writable, ``bare`` also the network and this process's environment. Only the project's own
shipped library (what the built-in research agent promotes) may run in a weak sandbox, with
a warning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.errors import UserError
from sandbox.backends.base import STRONG_ISOLATION

if TYPE_CHECKING:
    from orchestrator.config import StudyConfig
    from sandbox.client import SandboxClient

# The flag and the study-file key that opt in to a weak sandbox for untrusted code.
ALLOW_WEAK_FLAG = "--allow-weak-sandbox"
ALLOW_WEAK_KEY = "[levels] allow_weak_sandbox = true"

# What a weak mode leaves open, for the one-line error and the warning.
_WEAK_EXPOSURE = {
    "unshare": "the host's files are readable and writable",
    "bare": "the host's files, the network and this process's environment are open",
}


def weak_exposure(isolation: str) -> str:
    """What a sandbox of this ``isolation`` does not protect, in a few words."""
    return _WEAK_EXPOSURE.get(isolation, "its isolation is unknown")


def fixes() -> str:
    """The three ways out, as one clause."""
    return (
        "build the sandbox image (`make images`) with a Docker engine running, install "
        f"bubblewrap (`apt-get install bubblewrap`), or opt in with {ALLOW_WEAK_FLAG} "
        f"(study files: {ALLOW_WEAK_KEY})"
    )


def require_study_sandbox(config: StudyConfig, client: SandboxClient) -> str | None:
    """A study's Level-2 sandbox: refused (``UserError``) when weak and the mechanisms may be
    LLM-written (a non-builtin provider) unless ``levels.allow_weak_sandbox``; else the
    warning to show for a weak one (None for a strong one)."""
    return check_isolation(
        client.isolation,
        untrusted=config.llm.provider != "builtin",
        allow_weak=bool(config.levels.allow_weak_sandbox),
        what="Level 2 with an LLM provider",
    )


def check_isolation(isolation: str, *, untrusted: bool, allow_weak: bool, what: str) -> str | None:
    """Refuse (``UserError``, exit 2) to run ``what`` in a weak sandbox when its code is
    ``untrusted`` and the user did not opt in; otherwise return a warning line for a weak
    sandbox (None for a strong one)."""
    if isolation in STRONG_ISOLATION:
        return None
    exposure = weak_exposure(isolation)
    if untrusted and not allow_weak:
        raise UserError(
            f"{what} would run LLM-written code in a weak sandbox ({isolation}: {exposure}); "
            f"{fixes()}"
        )
    who = "untrusted code (opted in)" if untrusted else "the built-in mechanism library"
    return f"weak sandbox ({isolation}: {exposure}) for {who}; for a real boundary, {fixes()}"
