"""The in-sandbox harness: runs the smoke and contract tests and serves hook calls.

It runs *inside* the sandbox (a container or a bubblewrap jail) and is trusted code; the
mechanism modules it loads are not. Two processes keep them apart:

- The **supervisor** (``python -m sandbox.harness``) reads one JSON request from stdin
  (module sources, contexts and a per-run *nonce* the host generated), closes stdin, makes
  itself non-dumpable (so same-uid processes cannot read its memory or open its file
  descriptors through ``/proc``) and never imports a mechanism.
- Each mechanism is loaded by a **worker** (:mod:`sandbox.worker`): a freshly exec'd interpreter that
  never sees the nonce. It talks to the supervisor over pipes, one JSON line per message;
  the module's own prints go to a separate, size-capped pipe.

The supervisor is PID 1 of the sandbox's pid namespace (container entrypoint, ``bwrap
--as-pid-1``), so the kernel drops any signal a module sends it. It validates every hook
output itself and writes exactly one report line,
``BILEVEL-HARNESS-REPORT <nonce> <json>``, to its stdout. The host accepts only that line:
a module that prints a forged report, or exits 0 early, cannot produce the nonce.

Only the standard library and :mod:`sandbox.api` are imported here (the sandbox image has
nothing else of the project).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from sandbox import contexts
from sandbox.api import HOOKS

REPORT_PREFIX = "BILEVEL-HARNESS-REPORT"
# Requests carry module sources and replayed histories; 16 MiB is far above any real one.
MAX_REQUEST_BYTES = 16 << 20
# One worker answer (a hook's output); a mechanism returning more than this is broken.
MAX_MESSAGE_BYTES = 1 << 20
# What a module prints is kept for the report up to this size, the rest is counted and dropped.
MAX_MODULE_OUTPUT_BYTES = 4096
# Limits a request may override (the host sets them from the study config).
DEFAULT_LIMITS: dict[str, float] = {
    "load_seconds": 20.0,  # import + instantiate; scikit-learn alone takes ~1 s on a busy CPU
    "call_seconds": 2.0,  # one hook call; the DESIGN budget is "about a second"
    "memory_mb": 512.0,  # address space per worker; numpy+scipy+sklearn import needs ~300 MB
    "cpu_seconds": 60.0,  # per worker, a backstop behind the wall-clock limits
}
WORKER_ENV = {
    # Hash randomisation would make set-of-str iteration order differ from one process to
    # the next; hooks may run in a fresh process per call, so "same input, same output"
    # has to hold across processes.
    "PYTHONHASHSEED": "0",
    "PYTHONDONTWRITEBYTECODE": "1",
    # One BLAS thread: the pids limit counts threads and hooks are tiny computations.
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "HOME": "/tmp",
    "PATH": "/usr/bin:/bin",
}
PR_SET_DUMPABLE = 4
MAX_PREFORK = 8  # more idle workers than this only costs memory


class Worker:
    """One worker process, seen from the supervisor: send a message, wait for the answer."""

    def __init__(self, preload: list[str] | None = None) -> None:
        env = dict(WORKER_ENV)
        if "PYTHONPATH" in os.environ:  # the process backend puts the package there
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        self._out_read, out_write = os.pipe()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-s",
                "-m",
                "sandbox.worker",
                *(["--preload", ",".join(preload)] if preload else []),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=out_write,
            env=env,
            close_fds=True,
            start_new_session=True,  # its own process group: killpg reaches what it forked
            cwd="/tmp" if os.path.isdir("/tmp") else "/",
        )
        os.close(out_write)
        _ALL_WORKERS.append(self)
        # The OOM killer should pick a worker, never the supervisor that writes the report.
        with contextlib.suppress(OSError), open(f"/proc/{self.proc.pid}/oom_score_adj", "w") as f:
            f.write("1000")
        self.output = bytearray()
        self.output_dropped = 0
        self._drain = threading.Thread(target=self._drain_output, daemon=True)
        self._drain.start()
        self._buffer = b""

    def _drain_output(self) -> None:
        while chunk := os.read(self._out_read, 65536):
            room = MAX_MODULE_OUTPUT_BYTES - len(self.output)
            self.output += chunk[: max(room, 0)]
            self.output_dropped += max(len(chunk) - max(room, 0), 0)
        os.close(self._out_read)

    def send(self, message: dict[str, Any]) -> str | None:
        """Send one message; the reason when the worker cannot take it, else None."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(message).encode() + b"\n")
            self.proc.stdin.flush()
        except OSError:
            return self._death()
        return None

    def receive(self, timeout: float) -> dict[str, Any]:
        """The next answer, or ``{"ok": False, "error": ...}`` on timeout, death or garbage."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                return {"ok": False, "error": f"timed out after {timeout:g} s", "timeout": True}
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                return {"ok": False, "error": self._death()}
            self._buffer += chunk
            if len(self._buffer) > MAX_MESSAGE_BYTES:
                self.kill()
                return {"ok": False, "error": f"output larger than {MAX_MESSAGE_BYTES} bytes"}
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            answer = json.loads(line)
        except ValueError:
            return {"ok": False, "error": "the worker sent a malformed message"}
        if not isinstance(answer, dict):
            return {"ok": False, "error": "the worker sent a malformed message"}
        return answer

    def ask(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        error = self.send(message)
        return {"ok": False, "error": error} if error else self.receive(timeout)

    def _death(self) -> str:
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.kill()
            return "the worker stopped answering"
        if code == -9:
            return "killed by SIGKILL (most likely the memory limit was exceeded)"
        if code < 0:
            return f"the worker died from signal {-code}"
        return f"the worker exited with code {code} during the call (sys.exit or os._exit in the module?)"

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            os.killpg(self.proc.pid, 9)
        with contextlib.suppress(OSError):
            self.proc.kill()
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=5)

    def module_output(self) -> str:
        text = self.output.decode("utf-8", errors="replace")
        return text + (
            f"\n[... {self.output_dropped} more bytes dropped]" if self.output_dropped else ""
        )


def _check(name: str, ok: bool, seconds: float, detail: str = "") -> dict[str, Any]:
    return {"name": name, "ok": ok, "seconds": round(seconds, 4), "detail": detail}


def _ladder(request: dict[str, Any], limits: dict[str, float]) -> dict[str, Any]:
    module = request["mechanisms"][0]
    space = request.get("space") or []
    checks: list[dict[str, Any]] = []
    report: dict[str, Any] = {"op": "ladder", "checks": checks, "name": None, "hooks": []}
    worker = _take_worker()
    try:
        answer = worker.ask(
            {
                "op": "load",
                "source": module["source"],
                "filename": module.get("filename", "mechanism.py"),
                **_worker_limits(limits),
            },
            limits["load_seconds"],
        )
        checks.append(
            _check(
                "smoke:load",
                answer.get("ok") is True,
                answer.get("seconds", 0.0),
                answer.get("error", ""),
            )
        )
        if answer.get("ok") is not True:
            return {
                **report,
                "accepted": False,
                "stage": "smoke",
                "reason": f"smoke test: {answer.get('error')}",
            }
        report.update(
            name=answer.get("name"), hooks=answer.get("hooks"), **{"class": answer.get("class")}
        )
        hooks = [h for h in HOOKS if h in (answer.get("hooks") or [])]
        cases = contexts.contract_contexts(space, request.get("replays") or [])
        for case_name, ctx in cases:
            for hook in hooks:
                failure = _contract_call(worker, hook, case_name, ctx, limits, checks)
                if failure:
                    return {**report, "accepted": False, "stage": "contract", "reason": failure}
                if worker.proc.poll() is not None:
                    return {
                        **report,
                        "accepted": False,
                        "stage": "contract",
                        "reason": "the worker exited between calls",
                    }
        return {
            **report,
            "accepted": True,
            "stage": "contract",
            "reason": f"passed {len(checks)} checks",
        }
    finally:
        worker.kill()
        report["module_output"] = worker.module_output()


def _contract_call(
    worker: Worker,
    hook: str,
    case: str,
    ctx: dict[str, Any],
    limits: dict[str, float],
    checks: list[dict[str, Any]],
) -> str | None:
    """Call one hook twice on one context; record the check; the failure reason or None."""
    candidates = contexts.screen_candidates(ctx) if hook == "screen" else None
    message = {"op": "call", "hook": hook, "context": ctx, "candidates": candidates}
    label = f"{hook}:{case}"
    first = worker.ask(message, limits["call_seconds"])
    error = first.get("error") if first.get("ok") is not True else None
    if error is None:
        error = contexts.validate_output(hook, first.get("value"), ctx, candidates)
    if error is None:
        second = worker.ask(message, limits["call_seconds"])
        if second.get("ok") is not True:
            error = f"second identical call failed: {second.get('error')}"
        elif second.get("value") != first.get("value"):
            error = (
                "not deterministic: a second call with the same context returned a different "
                "result (hooks must be pure; keep no state on self and draw randomness from ctx.seed)"
            )
    checks.append(_check(label, error is None, float(first.get("seconds") or 0.0), error or ""))
    if error is None:
        return None
    return f"{hook} on the {case.replace('-', ' ')} context: {error}"


def _call(request: dict[str, Any], limits: dict[str, float]) -> dict[str, Any]:
    """One hook stage for a batch of mechanisms; each in its own worker, all in parallel."""
    hook = request["stage"]
    ctx = request["context"]
    candidates = request.get("candidates")
    mechanisms = request["mechanisms"]
    workers = [_take_worker() for _ in mechanisms]
    outputs: list[dict[str, Any]] = []
    # Workers are killed once the report is out (see _supervisor_main): the host stops
    # waiting at the report, so their teardown is off the hook call's latency.
    start = time.perf_counter()
    sent = [
        w.send(
            {
                "op": "load",
                "source": m["source"],
                "filename": f"{m['name']}.py",
                **_worker_limits(limits),
            }
        )
        for w, m in zip(workers, mechanisms, strict=True)
    ]
    loaded = []
    for worker, send_error in zip(workers, sent, strict=True):
        # All workers load in parallel; the load deadline counts from the batch start.
        left = max(limits["load_seconds"] - (time.perf_counter() - start), 0.01)
        loaded.append({"ok": False, "error": send_error} if send_error else worker.receive(left))
    # Then every loaded worker gets the call at once; each has its own call deadline.
    call = {"op": "call", "hook": hook, "context": ctx, "candidates": candidates}
    call_start = time.perf_counter()
    sent = [
        w.send(call) if ld.get("ok") is True else None
        for w, ld in zip(workers, loaded, strict=True)
    ]
    for worker, mech, load, send_error in zip(workers, mechanisms, loaded, sent, strict=True):
        out: dict[str, Any] = {"name": mech["name"], "sha": mech.get("sha", ""), "ok": False}
        if load.get("ok") is not True:
            out["error"] = f"load failed: {load.get('error')}"
        else:
            left = max(limits["call_seconds"] - (time.perf_counter() - call_start), 0.01)
            answer = {"ok": False, "error": send_error} if send_error else worker.receive(left)
            error = answer.get("error") if answer.get("ok") is not True else None
            if error is None:
                error = contexts.validate_output(hook, answer.get("value"), ctx, candidates)
            out.update(ok=error is None, value=answer.get("value") if error is None else None)
            if error:
                out["error"] = error
        out["seconds"] = round(time.perf_counter() - start, 4)
        out["output"] = worker.module_output()
        outputs.append(out)
    return {"op": "call", "stage": hook, "outputs": outputs}


def _read_request() -> dict[str, Any]:
    data = bytearray()
    while chunk := os.read(0, 1 << 20):
        data += chunk
        if len(data) > MAX_REQUEST_BYTES:
            raise ValueError(f"request larger than {MAX_REQUEST_BYTES} bytes")
    return json.loads(data)


def _write_report(nonce: str, report: dict[str, Any]) -> None:
    report["nonce"] = nonce
    line = f"{REPORT_PREFIX} {nonce} {json.dumps(report, allow_nan=False)}\n".encode()
    view = memoryview(line)
    while view:
        view = view[os.write(1, view) :]


# Workers started before the request arrived (``--prefork N``): a warm sandbox waiting for
# its request has them ready, so a hook call does not pay for interpreter start-up. They are
# exec'd before the nonce exists anywhere in this process.
_PREFORKED: list[Worker] = []
_ALL_WORKERS: list[Worker] = []  # every worker started, killed after the report is written


def _take_worker() -> Worker:
    while _PREFORKED:
        worker = _PREFORKED.pop()
        if worker.proc.poll() is None:
            return worker
    return Worker()


def _worker_limits(limits: dict[str, float]) -> dict[str, int]:
    return {"memory_mb": int(limits["memory_mb"]), "cpu_seconds": int(limits["cpu_seconds"])}


def _supervisor_main(prefork: int = 0, preload: list[str] | None = None) -> int:
    with contextlib.suppress(Exception):  # non-dumpable: /proc/<us>/{mem,fd,environ} closed
        ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    _PREFORKED.extend(Worker(preload or []) for _ in range(min(prefork, MAX_PREFORK)))
    try:
        request = _read_request()
    except (ValueError, OSError) as exc:
        print(f"harness: bad request: {exc}", file=sys.stderr)
        return 2
    nonce = str(request.pop("nonce", ""))
    if deadline := request.get("deadline_s"):
        # Belt and braces behind the host's own deadline: if the host died, the sandbox
        # still ends (as PID 1 in a container, a default SIGALRM would be ignored).
        signal.signal(signal.SIGALRM, lambda *_: os._exit(124))
        signal.alarm(int(deadline) + 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    limits = {**DEFAULT_LIMITS, **(request.get("limits") or {})}
    try:
        if request.get("op") == "ladder":
            report = _ladder(request, limits)
        elif request.get("op") == "call":
            report = _call(request, limits)
        else:
            report = {"error": f"unknown op {request.get('op')!r}"}
    except Exception as exc:  # a harness bug: still a structured answer, never a pass
        report = {"op": request.get("op"), "error": f"harness failure: {type(exc).__name__}: {exc}"}
    _write_report(nonce, report)
    for worker in _ALL_WORKERS:
        worker.kill()
    return 0


def _parse_args(args: list[str]) -> tuple[int, list[str]]:
    """``[--prefork N] [--preload mod1,mod2]`` -> (N, modules); anything else is ignored."""
    options = dict(zip(args[::2], args[1::2], strict=False))
    prefork = int(options.get("--prefork", "0"))
    preload = [m for m in options.get("--preload", "").split(",") if m]
    return prefork, preload


if __name__ == "__main__":
    sys.exit(_supervisor_main(*_parse_args(sys.argv[1:])))
