"""The sandbox: the mechanism API, the static gate, the in-sandbox harness, backends, runner.

:mod:`sandbox.api` is what generated code imports; it must import without the rest of the
project, inside the sandbox image — so this package's ``__init__`` imports only the API
eagerly, and the host-side surface (clients, reports, gate) lazily on first use.

Host-side entry points::

    from sandbox import make_client
    client = make_client("direct", backend="auto")          # or ("runner", redis_url=...)
    report = client.check(source, space)                     # LadderReport
    result = client.call("propose", [(name, sha, source)], ctx.to_dict())   # StageResult
"""

from __future__ import annotations

import importlib
from typing import Any

from contract.hooks import Candidate, Context, Guidance, Trial, Verdict
from contract.space import Param
from sandbox.api import Mechanism

_LAZY = {
    "SandboxClient": "sandbox.client",
    "DirectClient": "sandbox.client",
    "RunnerClient": "sandbox.client",
    "make_client": "sandbox.client",
    "LadderReport": "sandbox.answers",
    "StageResult": "sandbox.answers",
    "MechanismOutput": "sandbox.answers",
    "SandboxUnavailable": "sandbox.backends",
    "make_backend": "sandbox.backends",
    "check_source": "sandbox.gate",
    "allowed_modules": "sandbox.gate",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sandbox' has no attribute {name!r}")


__all__ = ["Candidate", "Context", "Guidance", "Mechanism", "Param", "Trial", "Verdict", *_LAZY]
