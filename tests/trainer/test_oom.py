"""A training child killed by the kernel's OOM killer is an `oom` trial, not `crashed`.

Runs a supervised trial inside a fresh memory cgroup (v1) whose limit is far below what
the training child needs. Skipped where this process may not create memory cgroups.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# Far below the ~400 MB a cpu-tiny child peaks at (torch alone is ~250 MB resident).
MEMORY_LIMIT_BYTES = 160 * 2**20
RUN_TIMEOUT_S = 120

PROBE = """
from tests.trainer.helpers import make_spec
from trainer.supervise import run_supervised
result = run_supervised(make_spec("oom-probe"))
print(result.status)
print(result.error.splitlines()[0])
"""


@pytest.fixture
def small_memory_cgroup() -> Iterator[Path]:
    line = next(
        (ln for ln in Path("/proc/self/cgroup").read_text().splitlines() if ":memory:" in ln), None
    )
    if line is None:
        pytest.skip("no cgroup v1 memory controller here")
    parent = Path("/sys/fs/cgroup/memory") / line.split(":", 2)[2].lstrip("/")
    group = parent / f"bilevel-oom-test-{uuid.uuid4().hex[:8]}"
    try:
        group.mkdir()
        (group / "memory.limit_in_bytes").write_text(str(MEMORY_LIMIT_BYTES))
    except OSError as exc:
        pytest.skip(f"cannot create a memory cgroup here ({exc})")
    swap_limit = group / "memory.memsw.limit_in_bytes"
    if swap_limit.exists():  # without it the kernel swaps instead of killing
        swap_limit.write_text(str(MEMORY_LIMIT_BYTES))
    try:
        yield group
    finally:
        with contextlib.suppress(OSError):
            group.rmdir()


def test_an_oom_killed_child_is_reported_as_oom(small_memory_cgroup: Path) -> None:
    procs = small_memory_cgroup / "cgroup.procs"
    command = f'echo $$ > {procs} && exec "{sys.executable}" -c "$0"'
    out = subprocess.run(
        ["sh", "-c", command, PROBE],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.returncode == 0, out.stderr
    status, error = out.stdout.strip().splitlines()
    assert status == "oom"
    assert "OOM killer" in error and "SIGKILL" in error
