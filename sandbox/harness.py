"""The in-sandbox harness: runs the smoke and contract tests and serves hook calls.

It runs *inside* the sandbox (a container or a bubblewrap jail) and is trusted code; the
mechanism modules it loads are not. Two processes keep them apart:

- The **supervisor** (``python -m sandbox.harness``) reads one JSON request from stdin
  (module sources, contexts and a per-run *nonce* the host generated), closes stdin, makes
  itself non-dumpable (so same-uid processes cannot read its memory or open its file
  descriptors through ``/proc``) and never imports a mechanism.
- Each mechanism is loaded by a **worker** (:mod:`sandbox.worker`): a freshly exec'd interpreter that
  never sees the nonce. It talks to the supervisor over pipes, one JSON line per message;
  the module's own prints go to a separate, size-capped pipe. The channel's rules (one
  token-carrying answer per message, nothing else) are in :mod:`sandbox.channel`.
- The host names the hooks to test (read from the module's source); the worker's own list
  must match it, and a ladder ends with the worker alive and its channel quiet.
- Each sandbox serves one mechanism (the host starts one per mechanism), and whatever goes
  wrong reading or checking one mechanism's answer is that mechanism's failure alone.

The supervisor is PID 1 of the sandbox's pid namespace (container entrypoint, ``bwrap
--as-pid-1``), so the kernel drops any signal a module sends it. It validates every hook
output itself and writes exactly one report line,
``BILEVEL-HARNESS-REPORT <nonce> <json>``, to its stdout. The host accepts only that line:
a module that prints a forged report, or exits 0 early, cannot produce the nonce.

Only the standard library and the in-sandbox modules (api, channel, contexts, contract_stage) are imported here (the sandbox image has
nothing else of the project).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import sys
import time
from typing import Any

from contract.hooks import HOOKS
from contract.limits import name_error
from sandbox import contract_stage
from sandbox.channel import (
    ALL_WORKERS,
    CLASS_PATTERN,
    Worker,
    cpu_seconds_of,
    failure,
    seconds_of,
)
from sandbox.contract_stage import check as _check
from sandbox.contract_stage import validated as _validated
from sandbox.contract_stage import worker_limits as _worker_limits

REPORT_PREFIX = "BILEVEL-HARNESS-REPORT"
# Requests carry module sources and replayed histories; 16 MiB is far above any real one.
MAX_REQUEST_BYTES = 16 << 20
# Limits a request may override (the host sets them from the study config).
DEFAULT_LIMITS: dict[str, float] = {
    "load_seconds": 20.0,  # import + instantiate; scikit-learn alone takes ~1 s on a busy CPU
    "call_seconds": 2.0,  # one hook call; the DESIGN budget is "about a second"
    "memory_mb": 512.0,  # address space per worker; numpy+scipy+sklearn import needs ~300 MB
    "cpu_seconds": 60.0,  # per worker, a backstop behind the wall-clock limits
}
PR_SET_DUMPABLE = 4
MAX_PREFORK = 8  # more idle workers than this only costs memory


def _requested_hooks(request: dict[str, Any]) -> list[str] | None:
    """The hooks the host read from the module's source: the ones to test, never the
    worker's own claim. None when the request names none, or unknown ones."""
    hooks = request.get("hooks")
    if not isinstance(hooks, list) or not hooks or not all(h in HOOKS for h in hooks):
        return None
    return [h for h in HOOKS if h in hooks]


def _load_problem(answer: dict[str, Any], hooks: list[str]) -> str | None:
    """Why a worker's "loaded" answer is not acceptable for a module with ``hooks``."""
    if name_error(answer.get("name")) is not None:
        return "the mechanism's name is not a short lowercase identifier"
    if not isinstance(answer.get("class"), str) or not CLASS_PATTERN.fullmatch(answer["class"]):
        return "the mechanism's class name is not an identifier"
    claimed = answer.get("hooks")
    if not isinstance(claimed, list) or sorted(map(str, claimed)) != sorted(hooks):
        return (
            f"the loaded class's hooks differ from the ones its source defines ({', '.join(hooks)})"
        )
    return None


def _ladder(request: dict[str, Any], limits: dict[str, float]) -> dict[str, Any]:
    module = request["mechanisms"][0]
    checks: list[dict[str, Any]] = []
    report: dict[str, Any] = {"op": "ladder", "checks": checks, "name": None, "hooks": []}
    hooks = _requested_hooks(request)
    if hooks is None:
        return {**report, "accepted": False, "stage": "smoke", "reason": "no hooks to test"}
    worker = _take_worker()

    # Every return below hands back ``report`` itself, so the module output the ``finally``
    # adds once the worker is dead reaches the host with the verdict.
    def rejected(stage: str, reason: str) -> dict[str, Any]:
        report.update(accepted=False, stage=stage, reason=reason)
        return report

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
        error = answer["error"] if answer.get("ok") is not True else _load_problem(answer, hooks)
        checks.append(_check("smoke:load", error is None, seconds_of(answer), error or ""))
        if error is not None:
            return rejected("smoke", f"smoke test: {error}")
        report.update(name=answer["name"], hooks=hooks, **{"class": answer["class"]})
        if problem := contract_stage.run(
            worker, _take_worker, module, hooks, request, limits, checks, answer["name"]
        ):
            return rejected("contract", problem)
        report.update(accepted=True, stage="contract", reason=f"passed {len(checks)} checks")
        return report
    finally:
        worker.kill()
        report["module_output"] = worker.module_output()


def _call(request: dict[str, Any], limits: dict[str, float]) -> dict[str, Any]:
    """One hook stage for a batch of mechanisms; each in its own worker, all in parallel.

    The host sends one mechanism per sandbox (mechanisms never share one), but the batch
    form stays valid: every step below is per mechanism, and whatever goes wrong while
    reading or checking one mechanism's answer is that mechanism's failure alone.
    """
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
                "source": str(m.get("source", "")),
                "filename": f"{m.get('name')}.py",
                **_worker_limits(limits),
            }
        )
        for w, m in zip(workers, mechanisms, strict=True)
    ]
    loaded = []
    for worker, send_error in zip(workers, sent, strict=True):
        # All workers load in parallel; the load deadline counts from the batch start.
        left = max(limits["load_seconds"] - (time.perf_counter() - start), 0.01)
        loaded.append(failure(send_error) if send_error else worker.receive(left))
    # Then every loaded worker gets the call at once; each has its own call deadline. The
    # call's process ids are drawn from the range a contract run's are (contract_stage.advance_pids).
    contract_stage.advance_pids(contract_stage.pid_target())
    call = {"op": "call", "hook": hook, "context": ctx, "candidates": candidates}
    call_start = time.perf_counter()
    sent = [
        w.send(call) if ld.get("ok") is True else None
        for w, ld in zip(workers, loaded, strict=True)
    ]
    for worker, mech, load, send_error in zip(workers, mechanisms, loaded, sent, strict=True):
        out: dict[str, Any] = {"name": str(mech.get("name")), "sha": str(mech.get("sha", ""))}
        try:
            out.update(
                _one_output(worker, hook, ctx, candidates, load, send_error, limits, call_start)
            )
        except Exception as exc:  # a supervisor bug on this one output: its failure only
            out.update(
                ok=False, value=None, error=f"harness failure on this output: {type(exc).__name__}"
            )
        out["seconds"] = round(time.perf_counter() - start, 4)
        out["cpu_seconds"] = round(cpu_seconds_of(load) + cpu_seconds_of(out.pop("answer", {})), 4)
        out["output"] = worker.module_output()
        outputs.append(out)
    return {"op": "call", "stage": hook, "outputs": outputs}


def _one_output(
    worker: Worker,
    hook: str,
    ctx: dict[str, Any],
    candidates: Any,
    load: dict[str, Any],
    send_error: str | None,
    limits: dict[str, float],
    call_start: float,
) -> dict[str, Any]:
    if load.get("ok") is not True:
        return {"ok": False, "error": f"load failed: {load.get('error')}"}
    left = max(limits["call_seconds"] - (time.perf_counter() - call_start), 0.01)
    answer = failure(send_error) if send_error else worker.receive(left)
    error = answer.get("error") if answer.get("ok") is not True else None
    if error is None:
        error = _validated(hook, answer.get("value"), ctx, candidates)
    if error is None:
        error = worker.still_clean()
    if error:
        return {"ok": False, "value": None, "error": str(error), "answer": answer}
    return {"ok": True, "value": answer.get("value"), "answer": answer}


def _read_request() -> dict[str, Any]:
    data = bytearray()
    while chunk := os.read(0, 1 << 20):
        data += chunk
        if len(data) > MAX_REQUEST_BYTES:
            raise ValueError(f"request larger than {MAX_REQUEST_BYTES} bytes")
    return json.loads(data)


def _write_report(nonce: str, report: dict[str, Any]) -> None:
    report["nonce"] = nonce
    try:
        body = json.dumps(report, allow_nan=False)
    except Exception as exc:  # a value the checks let through but JSON cannot carry
        body = json.dumps(
            {
                "op": report.get("op"),
                "nonce": nonce,
                "error": f"harness failure: unreportable result ({type(exc).__name__})",
            }
        )
    line = f"{REPORT_PREFIX} {nonce} {body}\n".encode()
    view = memoryview(line)
    while view:
        view = view[os.write(1, view) :]


# Workers started before the request arrived (``--prefork N``): a warm sandbox waiting for
# its request has them ready, so a hook call does not pay for interpreter start-up. They are
# exec'd before the nonce exists anywhere in this process.
_PREFORKED: list[Worker] = []


def _take_worker() -> Worker:
    while _PREFORKED:
        worker = _PREFORKED.pop()
        if worker.proc.poll() is None:
            return worker
    return Worker()


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
    for worker in ALL_WORKERS:
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
