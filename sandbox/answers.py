"""What the sandbox answers: a ladder report for a check, a stage result for a hook call.

Plain dataclasses with ``to_dict``/``from_dict`` so the same objects cross Redis (rq's JSON
serializer) and come out of ``bilevel mechanism check --json``.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from contract.hooks import Hook

Stage = Literal["static", "smoke", "contract"]
# A module's content address: the first 16 hex digits (64 bits) of the sha256 of its UTF-8
# text. Unique across any realistic number of generated modules while keeping file names
# (``mechanisms/<name>-<sha>.py``) and journal lines readable. Ladder reports written
# before this was the one definition carry all 64 digits; nothing compares them.
SHA_LENGTH = 16
# A ladder reason or check detail is cut to this: it reaches terminals, the journal and the
# repair prompt, whatever length the sandbox sent.
MAX_GATE_REASON_CHARS = 2000


def source_sha(source: str) -> str:
    """The content address of a mechanism module: the same text always gets the same sha."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:SHA_LENGTH]


@dataclass
class CheckResult:
    """One check of the ladder: ``static:gate``, ``smoke:load``, ``propose:long-history``…"""

    name: str
    ok: bool
    seconds: float = 0.0
    detail: str = ""


@dataclass
class LadderReport:
    """The verdict on one mechanism module.

    ``stage`` is where it was decided (``contract`` when accepted); ``reason`` one line a
    person or an LLM can act on. ``sha`` is the source's content address (:func:`source_sha`).
    """

    accepted: bool
    stage: Stage
    reason: str
    sha: str
    name: str | None = None
    class_name: str | None = None
    hooks: list[str] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    backend: str = ""
    warnings: list[str] = field(default_factory=list)
    module_output: str = ""
    isolation: str = ""  # the backend's isolation strength (sandbox.backends.ISOLATION_LEVELS)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LadderReport:
        checks = [CheckResult(**c) for c in data.get("checks", [])]
        return cls(**{**data, "checks": checks})


@dataclass
class MechanismOutput:
    """One mechanism's answer in a stage call.

    ``value`` is the hook's validated JSON output (Guidance dict or None, candidate dicts,
    verdict dicts) when ``ok``; otherwise ``error`` says what went wrong (timeout, crash,
    invalid output) — the circuit breaker counts these.
    """

    name: str
    sha: str
    ok: bool
    value: Any = None
    error: str = ""
    seconds: float = 0.0
    output: str = ""
    # CPU seconds of the mechanism's own processes (load and call): what the breaker judges
    # slowness by; None from a sandbox that does not report it.
    cpu_seconds: float | None = None


@dataclass
class StageResult:
    """All mechanisms' answers for one hook stage, in request order.

    ``error`` is set only when the whole batch failed (sandbox down, deadline, no report);
    then ``outputs`` holds one failed entry per mechanism so callers can count them.
    """

    stage: Hook
    outputs: list[MechanismOutput]
    seconds: float = 0.0
    backend: str = ""
    error: str = ""
    isolation: str = ""  # the backend's isolation strength (sandbox.backends.ISOLATION_LEVELS)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StageResult:
        outputs = [MechanismOutput(**o) for o in data.get("outputs", [])]
        return cls(**{**data, "outputs": outputs})
