"""Run one trial of a ``command`` objective: a user's training command, supervised.

The command runs in ``workdir`` in its own process group, with the trial in its
environment:

- ``BILEVEL_PARAM_<NAME>``: each parameter's value (``<NAME>`` upper-cased, other
  characters than letters, digits and ``_`` replaced by ``_``);
- ``BILEVEL_CONFIG``: the path of a JSON file holding the whole config;
- ``BILEVEL_BUDGET_MODE`` (``seconds`` | ``tokens`` | ``steps``) and ``BILEVEL_BUDGET``;
- ``BILEVEL_SEED``; ``BILEVEL_TRIAL_ID``;
- ``BILEVEL_RESULT``: a path where the command may write a JSON result
  (``{"METRIC": value, ...}``), read when no ``result_file`` is configured.

A leading ``python`` (or ``python3``) is the trainer's own interpreter. The metric is the last ``METRIC: value`` (or ``METRIC=value``) line on stdout, or the
result file. Exit code, signals, a NaN, the deadline and the kernel's OOM killer map to
the usual statuses, with the tail of stderr in the result's error.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from contract.progress import FRACTION, PHASE, PID
from trainer.environ import child_env
from trainer.objective import read_metric, result_from_value
from trainer.spec import TrialResult, TrialSpec

# Characters of stdout quoted when the metric line is missing: the end of what it printed.
STDOUT_TAIL_CHARS = 600
# Characters of stderr kept in a failed result (tracebacks end there).
STDERR_TAIL_CHARS = 1500
# How long a killed command's process group gets to be reaped.
KILL_WAIT_S = 10.0
# Polling period while the command runs: cheap, and a deadline overshoots by at most this.
POLL_S = 0.05
PARAM_ENV_PREFIX = "BILEVEL_PARAM_"
# A command starting with one of these runs under the trainer's own Python.
PYTHON_NAMES = frozenset({"python", "python3"})


def param_env_name(name: str) -> str:
    return PARAM_ENV_PREFIX + re.sub(r"[^A-Za-z0-9_]", "_", name).upper()


def resolve_command(command: tuple[str, ...]) -> list[str]:
    """The argv to run: a leading ``python`` is the trainer's own interpreter, so a user's
    script sees the packages the trainer has, whatever PATH says."""
    argv = list(command)
    if argv and argv[0] in PYTHON_NAMES:
        argv[0] = sys.executable
    return argv


def trial_env(spec: TrialSpec, config_path: Path, result_path: Path) -> dict[str, str]:
    env = child_env()
    for name, value in spec.config.items():
        env[param_env_name(name)] = value if isinstance(value, str) else json.dumps(value)
    env.update(
        BILEVEL_CONFIG=str(config_path),
        BILEVEL_BUDGET_MODE=spec.budget.mode,
        BILEVEL_BUDGET=f"{spec.budget.amount:g}",
        BILEVEL_SEED=str(spec.seed),
        BILEVEL_TRIAL_ID=spec.trial_id,
        BILEVEL_RESULT=str(result_path),
        PYTHONUNBUFFERED="1",
    )
    return env


def metric_from_stdout(text: str, metric: str) -> tuple[float | None, str]:
    """The last ``metric: value`` line's value, or the problem (empty when found)."""
    pattern = re.compile(rf"^\s*{re.escape(metric)}\s*[:=]\s*(\S+)\s*$", re.MULTILINE)
    matches = pattern.findall(text)
    if not matches:
        tail = text[-STDOUT_TAIL_CHARS:].strip() or "(nothing)"
        return None, (
            f"no '{metric}: <number>' line on stdout; print one, e.g. "
            f'print(f"{metric}: {{value}}"). stdout ended with: {tail}'
        )
    raw = matches[-1]
    try:
        return float(raw), ""
    except ValueError:
        return None, f"'{metric}: {raw}' on stdout is not a number; print a plain float"


def _tail(log: IO[bytes], chars: int) -> str:
    log.seek(0, os.SEEK_END)
    size = log.tell()
    log.seek(max(0, size - chars))
    return log.read().decode("utf-8", "replace").strip()


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=KILL_WAIT_S)


def run_command(
    spec: TrialSpec, on_progress: Any, deadline_s: float, oom_kills: Any
) -> TrialResult:
    """Run the command of ``spec.objective`` once; always returns a result.

    ``oom_kills`` is :func:`trainer.supervise.cgroup_oom_kills` (passed in: no import cycle).
    """
    objective = spec.objective
    assert objective is not None
    workdir = Path(objective.workdir or ".")
    with tempfile.TemporaryDirectory(prefix="bilevel-trial-") as tmp:
        config_path, result_path = Path(tmp) / "config.json", Path(tmp) / "result.json"
        config_path.write_text(json.dumps(spec.config), encoding="utf-8")
        oom_before = oom_kills()
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            started = time.monotonic()
            try:
                proc = subprocess.Popen(
                    resolve_command(objective.command),
                    cwd=workdir,
                    env=trial_env(spec, config_path, result_path),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,  # its own group: a timeout kills its children too
                )
            except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
                return TrialResult.failed(
                    spec,
                    "invalid",
                    f"command {objective.command[0]!r} cannot start in {workdir} ({exc}); "
                    "fix objective.command or objective.workdir",
                )
            if on_progress is not None:
                on_progress({PHASE: "running", PID: proc.pid, FRACTION: 0.0})
            try:
                while proc.poll() is None:
                    if time.monotonic() - started > deadline_s:
                        _kill_group(proc)
                        return TrialResult.failed(
                            spec,
                            "timeout",
                            f"the command exceeded its deadline of {deadline_s:.0f} s\n"
                            + _tail(err, STDERR_TAIL_CHARS),
                            train_seconds=time.monotonic() - started,
                        )
                    time.sleep(POLL_S)
            finally:
                if proc.poll() is None:
                    _kill_group(proc)
            elapsed = time.monotonic() - started
            code = proc.returncode
            stderr_tail = _tail(err, STDERR_TAIL_CHARS)
            if code != 0:
                return _failed_exit(spec, code, stderr_tail, oom_before, oom_kills(), elapsed)
            out.seek(0)
            stdout = out.read().decode("utf-8", "replace")
        return _read_result(spec, stdout, result_path, elapsed)


def _failed_exit(
    spec: TrialSpec,
    code: int,
    stderr_tail: str,
    oom_before: int | None,
    oom_after: int | None,
    elapsed: float,
) -> TrialResult:
    if code < 0:
        name = signal.Signals(-code).name
        if name == "SIGKILL" and oom_after is not None and oom_after != oom_before:
            return TrialResult.failed(
                spec,
                "oom",
                f"the command was killed by the kernel's OOM killer\n{stderr_tail}",
                train_seconds=elapsed,
            )
        why = f"the command was killed by {name}"
    else:
        why = f"the command exited with code {code}"
    if "MemoryError" in stderr_tail or "out of memory" in stderr_tail.lower():
        return TrialResult.failed(spec, "oom", f"{why}\n{stderr_tail}", train_seconds=elapsed)
    return TrialResult.failed(
        spec, "crashed", f"{why}\n{stderr_tail}".strip(), train_seconds=elapsed
    )


def _read_result(spec: TrialSpec, stdout: str, result_path: Path, elapsed: float) -> TrialResult:
    objective = spec.objective
    assert objective is not None
    metric = objective.metric
    file = Path(objective.result_file) if objective.result_file else result_path
    if objective.result_file and not file.is_absolute():
        file = Path(objective.workdir or ".") / file
    if file.is_file():
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            return TrialResult.failed(
                spec, "invalid", f"result file {file} is not JSON ({exc}); write a JSON object"
            )
        value, extras, problem = read_metric(data, metric)
    else:
        value, problem = metric_from_stdout(stdout, metric)
        extras = {}
    return result_from_value(spec, value, extras, problem, train_seconds=elapsed)
