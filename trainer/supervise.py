"""Run one trial in a supervised child process: the local entry point.

Public interface::

    run_supervised(
        spec: TrialSpec,
        on_progress: Callable[[dict], None] | None = None,
        *,
        deadline_s: float | None = None,
        store: ResultStore | None = None,
    ) -> TrialResult

GPT and ``function`` trials run in ``python -m trainer.child``, never in the caller's process, so a CUDA
fault, a segfault, an OOM kill or a hang ends that one trial (``crashed``/``oom``/``timeout``)
and the caller carries on. The caller never imports torch. ``on_progress`` receives dicts
like ``{"phase": "training", "step": 12, "loss": 3.1, "elapsed_s": 1.4, "tokens": 98304,
"progress": 0.28, "pid": 4242}``; their keys are defined in :mod:`trainer.progress`.
``deadline_s`` (default :func:`default_deadline`) bounds the child's whole life, start-up
and evaluation included. With a ``store``, a result already stored for ``spec.trial_id``
is returned without training, and a new one is stored first-writer-wins.

Invalid specs come back as ``invalid`` results with every reason, before any process starts.
A ``command`` trial runs the user's command as the supervised child (:mod:`trainer.command`);
a ``benchmark`` trial is computed in this process in microseconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from contract.cgroup import CGROUP_ROOT
from trainer.environ import child_env
from trainer.objective import check_spec
from trainer.results import ResultStore
from trainer.spec import TrialResult, TrialSpec

# Start-up (imports, tokenizing a corpus on first use, compilation) and evaluation happen
# outside a `seconds` budget; this much slack on top of twice the budget covers them.
STARTUP_SLACK_S = 600.0
SECONDS_BUDGET_FACTOR = 2.0
# A `tokens` budget has no known duration; bound it so a hang still ends eventually.
TOKENS_BUDGET_DEADLINE_S = 4 * 3600.0
# Characters of the child's stderr kept in a `crashed` result (segfault stacks, warnings).
STDERR_TAIL_CHARS = 1500
# A child SIGKILLed while its cgroup's OOM-kill count rose is an `oom` trial, not `crashed`.
# How long to wait for a killed child to be reaped.
KILL_WAIT_S = 10.0

ProgressCallback = Callable[[dict[str, Any]], None]


def default_deadline(spec: TrialSpec) -> float:
    """Seconds the supervisor lets a trial's child live before ending it as ``timeout``:
    an objective's own ``timeout_s`` when it sets one, else derived from the budget."""
    if spec.objective is not None and spec.objective.timeout_s is not None:
        return spec.objective.timeout_s
    if spec.budget.mode == "seconds":
        return spec.budget.amount * SECONDS_BUDGET_FACTOR + STARTUP_SLACK_S
    return TOKENS_BUDGET_DEADLINE_S


def _pump_lines(stream: IO[str], sink: queue.Queue[str | None]) -> None:
    for line in stream:
        sink.put(line)
    sink.put(None)  # end of stream: the child exited or closed its protocol pipe


def _stderr_tail(log: IO[bytes]) -> str:
    log.seek(0, os.SEEK_END)
    size = log.tell()
    log.seek(max(0, size - STDERR_TAIL_CHARS))
    return log.read().decode("utf-8", "replace").strip()


def _memory_cgroup_counter_file() -> Path | None:
    """The file where the kernel counts OOM kills in this process's memory cgroup."""
    try:
        lines = Path("/proc/self/cgroup").read_text(encoding="ascii").splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # cgroup v2: one unified hierarchy
            return CGROUP_ROOT / path.lstrip("/") / "memory.events"
        if "memory" in controllers.split(","):  # cgroup v1
            return CGROUP_ROOT / "memory" / path.lstrip("/") / "memory.oom_control"
    return None


def cgroup_oom_kills() -> int | None:
    """OOM kills so far in this process's memory cgroup (which the training child shares).

    Scoped to our cgroup, not the whole machine: on a shared host, other containers'
    OOM kills must not turn our trial's unrelated SIGKILL into ``oom``. None if unknown.
    """
    counter = _memory_cgroup_counter_file()
    try:
        text = counter.read_text(encoding="ascii") if counter else ""
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("oom_kill "):
            return int(line.split()[1])
    return None


def _death_message(returncode: int, stderr_tail: str) -> str:
    if returncode < 0:
        name = signal.Signals(-returncode).name
        why = f"the training process was killed by {name}"
        if name == "SIGKILL":
            why += " (by a user, a supervisor, or the kernel's OOM killer)"
    else:
        why = f"the training process exited with code {returncode} without a result"
    return f"{why}\n{stderr_tail}".strip()


def _kill(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=KILL_WAIT_S)


def run_supervised(
    spec: TrialSpec,
    on_progress: ProgressCallback | None = None,
    *,
    deadline_s: float | None = None,
    store: ResultStore | None = None,
) -> TrialResult:
    """Run ``spec`` in a child process under a deadline; always returns a result."""
    if store is not None and (stored := store.get(spec.trial_id)) is not None:
        return stored
    result = _run_child(spec, on_progress, deadline_s or default_deadline(spec))
    return store.put_first(result) if store is not None else result


def _run_child(
    spec: TrialSpec, on_progress: ProgressCallback | None, deadline_s: float
) -> TrialResult:
    if errors := check_spec(spec):
        return TrialResult.failed(spec, "invalid", "; ".join(errors))
    if spec.kind == "benchmark":  # microseconds of our own pure code: no child needed
        from trainer.objective import run_benchmark

        return run_benchmark(spec)
    if spec.kind == "command":  # the user's command is itself the supervised child
        from trainer.command import run_command

        return run_command(spec, on_progress, deadline_s, cgroup_oom_kills)
    oom_before = cgroup_oom_kills()
    with tempfile.TemporaryFile() as stderr_log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "trainer.child"],
            env=child_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr_log,
            text=True,
            encoding="utf-8",
        )
        assert proc.stdin is not None and proc.stdout is not None
        lines: queue.Queue[str | None] = queue.Queue()
        reader = threading.Thread(target=_pump_lines, args=(proc.stdout, lines), daemon=True)
        reader.start()
        try:
            proc.stdin.write(spec.model_dump_json())
            proc.stdin.close()
        except BrokenPipeError:
            pass  # the child died at once; its exit status tells why below
        deadline = time.monotonic() + deadline_s
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    _kill(proc)
                    return TrialResult.failed(
                        spec,
                        "timeout",
                        f"the trial exceeded its supervisor deadline of {deadline_s:.0f} s",
                    )
                try:
                    line = lines.get(timeout=min(remaining, 1.0))
                except queue.Empty:
                    continue
                if line is None:
                    break
                message = json.loads(line)
                if message.get("type") == "result":
                    return TrialResult.model_validate(message["result"])
                if message.get("type") == "progress" and on_progress is not None:
                    on_progress(message["info"])
            returncode = proc.wait(timeout=KILL_WAIT_S)
            message = _death_message(returncode, _stderr_tail(stderr_log))
            oom_after = cgroup_oom_kills()
            if returncode == -signal.SIGKILL and oom_after is not None and oom_after != oom_before:
                return TrialResult.failed(
                    spec, "oom", f"killed by the kernel's OOM killer: {message}"
                )
            return TrialResult.failed(spec, "crashed", message)
        finally:
            if proc.poll() is None:
                # The result is in hand (or we are unwinding); give the child a moment to
                # exit cleanly before it is killed.
                try:
                    proc.wait(timeout=KILL_WAIT_S)
                except subprocess.TimeoutExpired:
                    _kill(proc)
            reader.join(timeout=KILL_WAIT_S)
