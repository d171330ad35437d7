"""The orchestrator: the study loop and everything a user talks to (CLI, config, LLM, journal, reports).

It holds the LLM key and the Redis password, never imports or executes generated code, and
never holds the Docker socket (DESIGN §2).

The public surface is re-exported here lazily (PEP 562), so ``bilevel worker`` in the
trainer image imports none of it::

    from orchestrator import StudyConfig, run_study, Journal, read_events
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "StudyConfig": "orchestrator.config",
    "Journal": "orchestrator.journal",
    "read_events": "orchestrator.journal",
    "StudyState": "orchestrator.state",
    "TrialRecord": "orchestrator.state",
    "rebuild_state": "orchestrator.state",
    "run_study": "orchestrator.study",
    "StudySummary": "orchestrator.summary",
    "summary_from_journal": "orchestrator.summary",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'orchestrator' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
