"""The contract stage of the gate ladder, inside the sandbox's supervisor.

Every hook of a loaded module is called on every contract context
(:class:`sandbox.contexts.ContractRun`): its screen is shown the candidates live planning
would show, its own proposals for that context among them; each answer is validated with
the live limits; a screen that silences Level 1 or a sibling is rejected; and finally a
freshly started worker loads the module again and answers every call once more, in the
reverse order, because a live call runs in a fresh process and a module's answer must not
depend on which one, nor on how many calls came before it.

What a module can observe of its process must not tell a contract call from a live one.
Every sandbox is a fresh pid namespace, so a live call's process id was one small number
and a contract run's grew call by call (and the time since the module loaded grew with
them). Before each call the supervisor moves the namespace's next process id to a point
drawn from one range (:func:`advance_pids`: once for a live call, ascending over a
contract run's shuffled calls), so a call's pid, and its distance from its parent's, is
drawn alike in both; the second pass runs the calls backwards, so an answer keyed on the
pid, on the time since load or on anything else that grows call by call changes between
the passes and is rejected as not deterministic.

Every message a worker gets here is exactly the message of a live call: nothing in the
worker's reach says "contract test". Standard library only: this runs in the sandbox image.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from sandbox import contexts
from sandbox.channel import Worker, error_text, seconds_of

# Where a call's process id is drawn from: above every id a fresh sandbox's supervisor and
# workers take (about a dozen), and wide enough that a contract run's calls (one id each)
# spread over it as one live call's single draw does.
PID_FLOOR = 64
PID_SPAN = 64
# Bounds the ids used up per call, whatever the namespace (without one, ids are far above
# the range already and nothing is used up).
MAX_PID_STEPS = PID_FLOOR + PID_SPAN


def pid_target(rng: random.Random | None = None) -> int:
    """A point of the call range: where the next call's process id starts."""
    return PID_FLOOR + (rng or random.SystemRandom()).randrange(PID_SPAN)


def advance_pids(target: int) -> None:
    """Use up process ids until the namespace's next one is at least ``target``: each short
    thread takes one (thread ids come from the process-id space). A thread costs tens of
    microseconds; at most :data:`MAX_PID_STEPS` are started."""
    for _ in range(MAX_PID_STEPS):
        thread = threading.Thread(target=int)
        thread.start()
        thread.join()
        if (thread.native_id or target) >= target - 1:
            return


def check(name: str, ok: bool, seconds: float, detail: str = "") -> dict[str, Any]:
    """One check of the report."""
    return {"name": name, "ok": ok, "seconds": round(seconds, 4), "detail": detail}


def worker_limits(limits: dict[str, float]) -> dict[str, int]:
    """The limits a worker's ``load`` message carries (the same for contract and live)."""
    return {"memory_mb": int(limits["memory_mb"]), "cpu_seconds": int(limits["cpu_seconds"])}


def run(
    worker: Worker,
    take_worker: Callable[[], Worker],
    module: dict[str, Any],
    hooks: list[str],
    request: dict[str, Any],
    limits: dict[str, float],
    checks: list[dict[str, Any]],
    name: str,
) -> str | None:
    """The contract tests of the module ``worker`` has loaded (its ``name``); the reason it
    fails them, or None. Checks are appended to ``checks``."""
    cases = contexts.ContractRun(
        request.get("space") or [],
        request.get("replays") or [],
        name=name,
        iterations=_iterations(request),
    )
    calls: list[_Call] = []
    screens: list[contexts.Screen] = []  # (candidates, proposers, verdicts) seen
    # One process-id target per call, ascending (ids only grow); the cases are shuffled.
    targets = iter(sorted(pid_target(cases.rng) for _ in range(len(cases.cases) * len(hooks))))
    for case in cases.cases:
        own: list[Any] = []  # its proposals for this context, among its screen's candidates
        for hook in hooks:
            candidates, proposers = (
                cases.screen_round(case.context, own) if hook == "screen" else (None, [])
            )
            call = _Call(hook, case.name, case.context, candidates)
            advance_pids(next(targets))
            if failed := _contract_call(worker, call, limits, checks):
                return failed
            if problem := worker.still_clean():
                return problem
            calls.append(call)
            if hook == "propose" and isinstance(call.value, list):
                own = call.value
            if hook == "screen" and candidates:
                screens.append((candidates, proposers, call.value))
    if problem := contexts.screen_problem(screens):
        checks.append(check("screen:silences", False, 0.0, problem))
        return problem
    return _fresh_process_problem(take_worker, module, calls, limits, checks)


class _Call:
    """One contract call: what was asked and what the module answered."""

    def __init__(
        self, hook: str, case: str, context: dict[str, Any], candidates: list[Any] | None
    ) -> None:
        self.hook, self.case, self.context, self.candidates = hook, case, context, candidates
        self.value: Any = None

    def message(self) -> dict[str, Any]:
        # Exactly the live call's message: nothing in it says "contract test".
        return {
            "op": "call",
            "hook": self.hook,
            "context": self.context,
            "candidates": self.candidates,
        }


def _iterations(request: dict[str, Any]) -> int | None:
    value = request.get("iterations")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _contract_call(
    worker: Worker, call: _Call, limits: dict[str, float], checks: list[dict[str, Any]]
) -> str | None:
    """Call one hook on one context; record the check; the failure reason or None."""
    label = f"{call.hook}:{call.case}"
    answer = worker.ask(call.message(), limits["call_seconds"])
    error = answer.get("error") if answer.get("ok") is not True else None
    if error is None:
        error = validated(call.hook, answer.get("value"), call.context, call.candidates)
    call.value = answer.get("value")
    checks.append(check(label, error is None, seconds_of(answer), str(error or "")))
    if error is None:
        return None
    return f"{call.hook} on the {call.case.replace('-', ' ')} context: {error}"


def _fresh_process_problem(
    take_worker: Callable[[], Worker],
    module: dict[str, Any],
    calls: list[_Call],
    limits: dict[str, float],
    checks: list[dict[str, Any]],
) -> str | None:
    """Every call again in a fresh worker process (a new interpreter: new addresses, new
    process ids, new entropy), as live calls run, and in the reverse order (what grows from
    call to call, the pid or the time since load, runs the other way): the same context
    must give the same answer. A difference means the module draws on something other than
    its context."""
    start = time.perf_counter()
    worker = take_worker()  # a new interpreter (started ahead or now), as a live call gets
    try:
        answer = worker.ask(
            {
                "op": "load",
                "source": module["source"],
                "filename": module.get("filename", "mechanism.py"),
                **worker_limits(limits),
            },
            limits["load_seconds"],
        )
        problem = (
            None if answer.get("ok") is True else f"a second load failed: {answer.get('error')}"
        )
        for call in reversed(calls):
            if problem:
                break
            again = worker.ask(call.message(), limits["call_seconds"])
            if again.get("ok") is not True:
                problem = f"{call.hook} on the {call.case.replace('-', ' ')} context failed in a fresh process: {error_text(again.get('error'))}"
            elif again.get("value") != call.value:
                problem = (
                    f"not deterministic: {call.hook} on the {call.case.replace('-', ' ')} context "
                    "returned a different result in a fresh process (hooks must be pure functions "
                    "of their arguments: draw randomness from ctx.seed, never from the clock, "
                    "object ids, process state or unseeded generators)"
                )
        checks.append(
            check(
                "determinism:fresh-process",
                problem is None,
                time.perf_counter() - start,
                problem or "",
            )
        )
        return problem
    finally:
        worker.kill()


def validated(hook: str, value: Any, ctx: dict[str, Any], candidates: Any) -> str | None:
    """The output's problem, or None; an exception while validating is the output's problem
    (a huge integer, a nesting the checks cannot follow), never the supervisor's."""
    try:
        problem = contexts.validate_output(hook, value, ctx, candidates)
        json.dumps(value, allow_nan=False)  # it must fit in the report
    except Exception as exc:  # see the docstring: the output's problem, whatever it raised
        return f"invalid output ({type(exc).__name__})"
    return None if problem is None else str(problem)
