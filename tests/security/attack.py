"""Running one attack payload through a backend and checking what it left behind, host-side."""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.backends import Backend, SandboxRun
from sandbox.contexts import contract_contexts
from tests.sandbox.helpers import quickstart_space

PAYLOADS = Path(__file__).parent / "payloads"
PRELUDE = (PAYLOADS / "_prelude.py").read_text()
# Short limits: a hang costs ~2 s, a payload's import of sandbox.api well under the load limit.
ATTACK_LIMITS = {"call_seconds": 2.0, "load_seconds": 4.0}
ATTACK_DEADLINE_S = 25.0
# The most a contained attack may take on this (shared, 2-core) machine beyond its limits.
SLACK_S = 10.0
LEFTOVER_WAIT_S = 5.0


def new_marker() -> str:
    """A short unique tag (fits a 15-char process name) payloads put on what they create."""
    return "bl" + uuid.uuid4().hex[:12]


@dataclass
class Attack:
    run: SandboxRun
    elapsed: float
    output: dict[str, Any] | None  # the payload's entry in the harness report
    marker: str

    @property
    def findings(self) -> dict[str, Any]:
        """What the probe observed inside (its printed FINDINGS line, JSON)."""
        assert self.output and self.output.get("ok"), (
            f"probe failed: {self.output} / {self.run.error}"
        )
        return findings_in(str(self.output.get("output") or ""))

    @property
    def everything_returned(self) -> str:
        """All bytes that came back to the host, for leak checks."""
        return json.dumps(self.run.report) + self.run.stderr_tail + self.run.error

    @property
    def error(self) -> str:
        return str((self.output or {}).get("error") or self.run.error)


def findings_in(output: str) -> dict[str, Any]:
    """The FINDINGS line a probe printed (see payloads/_prelude.py)."""
    # A process the probe forked may print into the same pipe, even mid-line.
    lines = [line.partition("FINDINGS ")[2] for line in output.splitlines() if "FINDINGS " in line]
    assert lines, f"the probe printed no findings: {output[:300]!r}"
    return json.loads(lines[-1])


def payload_source(name: str, marker: str, subst: dict[str, str] | None = None) -> str:
    source = PRELUDE + "\n\n" + (PAYLOADS / f"{name}.py").read_text()
    for key, value in {"@MARKER@": marker, **(subst or {})}.items():
        source = source.replace(key, value)
    return source


def container_exists(cid: str) -> bool:
    import docker.errors

    from sandbox.backends.docker import _docker_client

    try:
        _docker_client().api.inspect_container(cid)
    except docker.errors.NotFound:
        return False
    return True


def marked_processes(marker: str) -> list[int]:
    """Host processes whose name or command line carries the marker."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            comm = Path(f"/proc/{pid}/comm").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if marker in comm or marker.encode() in cmdline:
            found.append(int(pid))
    return found


def assert_nothing_left(backend: Backend, marker: str) -> None:
    deadline = time.monotonic() + LEFTOVER_WAIT_S
    while (left := marked_processes(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"processes of the sandbox run survived it: {left}"
    if backend.name == "docker":
        # Removed in the background right after the answer: gone within a few seconds.
        cid = backend.last_container_id  # type: ignore[attr-defined]
        while cid and container_exists(cid) and time.monotonic() < deadline + LEFTOVER_WAIT_S:
            time.sleep(0.1)
        assert cid and not container_exists(cid), "the sandbox container outlived its call"


def run_attack(
    backend: Backend,
    name: str,
    *,
    hook: str = "guide",
    subst: dict[str, str] | None = None,
    limits: dict[str, float] | None = None,
    deadline_s: float = ATTACK_DEADLINE_S,
) -> Attack:
    """Run payload ``name`` as a mechanism's hook call, straight through the backend."""
    marker = new_marker()
    ctx = dict(contract_contexts(quickstart_space(), []))["long-history"]
    candidates = [] if hook == "screen" else None
    request = {
        "op": "call",
        "stage": hook,
        "mechanisms": [
            {"name": "probe", "sha": "0", "source": payload_source(name, marker, subst)}
        ],
        "context": ctx,
        "candidates": candidates,
        "limits": {**ATTACK_LIMITS, **(limits or {})},
    }
    start = time.monotonic()
    run = backend.run(request, deadline_s=deadline_s)
    elapsed = time.monotonic() - start
    assert_nothing_left(backend, marker)
    outputs = (run.report or {}).get("outputs") or [None]
    return Attack(run=run, elapsed=elapsed, output=outputs[0], marker=marker)


def run_batch(
    backend: Backend,
    payloads: list[tuple[str, str]],
    *,
    hook: str = "guide",
    limits: dict[str, float] | None = None,
) -> tuple[dict[str, Any], str]:
    """Run several payloads as one live hook stage (``(mechanism name, payload[:MODE])``),
    through the host's own :func:`call_stage`; their outputs by name, and the marker."""
    from sandbox.ladder import call_stage

    marker = new_marker()
    ctx = dict(contract_contexts(quickstart_space(), []))["long-history"]
    mechanisms = []
    for name, spec in payloads:
        payload, _, mode = spec.partition(":")
        source = payload_source(payload, marker, {"@MODE@": mode})
        mechanisms.append((name, name, source))
    result = call_stage(
        hook,
        mechanisms,
        ctx,
        [] if hook == "screen" else None,
        backend=backend,
        limits={**ATTACK_LIMITS, **(limits or {})},
        deadline_s=ATTACK_DEADLINE_S,
    )
    assert_nothing_left(backend, marker)
    return {o.name: o for o in result.outputs}, marker
