"""Contract-test inputs and output validation, shared by the harness and the host.

The contract tests call every hook on synthetic contexts built from the study's search
space (empty history, long history, only crashed trials, extra frozen parameters) and on
replayed real contexts; :func:`validate_output` decides whether an answer obeys the API.
Standard library only: this runs inside the sandbox image.
"""

from __future__ import annotations

import math
import random
from typing import Any

from sandbox import limits
from sandbox.api import TRIAL_STATUSES, Context, Param

# Fixed so the synthetic contexts (and hence the ladder's verdict) are reproducible.
SYNTHETIC_SEED = 20260
LONG_HISTORY_TRIALS = 60  # longer than a typical Level-2 cadence window; exercises O(n²) code
CRASHED_HISTORY_TRIALS = 8
FROZEN_HISTORY_TRIALS = 12
MAX_REPLAYS = 8  # replayed contexts beyond this add time, not coverage


def _default(p: Param) -> Any:
    if p.default is not None:
        return p.default
    if p.kind == "choice":
        return p.choices[0]
    assert p.low is not None and p.high is not None
    if p.kind == "float":
        return (p.low + p.high) / 2
    return _sample(p, random.Random(0)) if p.kind == "pow2" else int((p.low + p.high) // 2)


def _sample(p: Param, rng: random.Random) -> Any:
    if p.kind == "choice":
        return rng.choice(list(p.choices))
    assert p.low is not None and p.high is not None
    if p.kind == "pow2":
        lo = max(0, math.ceil(math.log2(max(p.low, 1))))
        hi = math.floor(math.log2(max(p.high, 1)))
        return 2 ** rng.randint(lo, max(lo, hi))
    if p.kind == "int":
        return rng.randint(math.ceil(p.low), math.floor(p.high))
    if p.log and p.low > 0:
        return math.exp(rng.uniform(math.log(p.low), math.log(p.high)))
    return rng.uniform(p.low, p.high)


def _trial(
    index: int,
    space: list[Param],
    base: dict[str, Any],
    rng: random.Random,
    status: str,
    val: float | None,
) -> dict[str, Any]:
    tunable = [p for p in space if not p.frozen]
    changed = rng.sample(tunable, k=min(len(tunable), rng.randint(1, 3))) if tunable else []
    changes = {p.name: _sample(p, rng) for p in changed}
    return {
        "index": index,
        "config": {**base, **changes},
        "changes": changes,
        "val_bpb": val if status == "ok" else None,
        "status": status,
        "kept": False,
        "source": rng.choice(["llm", "builtin", "mechanism:other"]) if index else "baseline",
        "hypothesis": f"synthetic trial {index}",
    }


def _context(
    iteration: int, space: list[Param], history: list[dict[str, Any]], defaults: dict[str, Any]
) -> dict[str, Any]:
    best = None
    for t in history:
        if t["status"] == "ok" and (best is None or t["val_bpb"] < best["val_bpb"]):
            best = t
            t["kept"] = True
    return {
        "iteration": iteration,
        "seed": SYNTHETIC_SEED + iteration,
        "space": [p.to_dict() for p in space],
        "history": history,
        "best": best,
        "base": dict(best["config"]) if best else dict(defaults),
    }


def contract_contexts(
    space_dicts: list[dict[str, Any]], replays: list[dict[str, Any]]
) -> list[tuple[str, dict[str, Any]]]:
    """The named contexts every hook is called on, synthetic first, then replays."""
    space = [Param.from_dict(p) for p in space_dicts]
    rng = random.Random(SYNTHETIC_SEED)
    defaults = {p.name: _default(p) for p in space}
    cases: list[tuple[str, dict[str, Any]]] = [("empty-history", _context(0, space, [], defaults))]

    long_history = []
    val = 1.8
    for i in range(LONG_HISTORY_TRIALS):
        status = "ok" if i == 0 or rng.random() > 0.15 else rng.choice(TRIAL_STATUSES[1:])
        val = max(0.5, val - rng.uniform(-0.02, 0.03))
        long_history.append(_trial(i, space, defaults, rng, status, round(val, 5)))
    cases.append(("long-history", _context(LONG_HISTORY_TRIALS, space, long_history, defaults)))

    crashed = [
        _trial(i, space, defaults, rng, TRIAL_STATUSES[1 + i % (len(TRIAL_STATUSES) - 1)], None)
        for i in range(CRASHED_HISTORY_TRIALS)
    ]
    cases.append(("crashed-trials", _context(CRASHED_HISTORY_TRIALS, space, crashed, defaults)))

    # Freeze every other tunable parameter: a mechanism must read `frozen`, not assume names.
    tunable = [p.name for p in space if not p.frozen]
    refrozen = {name for i, name in enumerate(tunable) if i % 2 == 1}
    frozen_space = [
        Param(
            **{**p.to_dict(), "choices": tuple(p.choices), "frozen": p.frozen or p.name in refrozen}
        )
        for p in space
    ]
    frozen_history = [
        _trial(
            i, frozen_space, defaults, rng, "ok", round(1.5 - 0.01 * i + rng.uniform(0, 0.02), 5)
        )
        for i in range(FROZEN_HISTORY_TRIALS)
    ]
    cases.append(
        ("frozen-params", _context(FROZEN_HISTORY_TRIALS, frozen_space, frozen_history, defaults))
    )

    # The study's metric and direction, as its live contexts carry them (API 2); the
    # synthetic values are minimise-normal scores (``val_bpb``) in either direction.
    named = next((r for r in replays if r.get("metric")), {})
    for _, synthetic in cases:
        synthetic["metric"] = str(named.get("metric") or "val_bpb")
        synthetic["direction"] = str(named.get("direction") or "minimize")
    for i, replay in enumerate(replays[:MAX_REPLAYS]):
        cases.append((f"replay-{i}", Context.from_dict(replay).to_dict()))
    return cases


def screen_candidates(ctx: dict[str, Any]) -> list[dict[str, Any]]:
    """Valid candidates for ``screen``: one single-parameter change per tunable parameter."""
    context = Context.from_dict(ctx)
    rng = random.Random(context.seed)
    out = []
    for p in context.tunable()[: limits.MAX_CANDIDATES_PER_CALL]:
        out.append(
            {"changes": {p.name: _sample(p, rng)}, "rationale": f"vary {p.name}", "priority": 0.0}
        )
    return out


def validate_output(
    hook: str, value: Any, ctx: dict[str, Any], candidates: list[dict[str, Any]] | None
) -> str | None:
    """Why a hook's JSON output breaks the API for this context, or None when it is valid.

    The limits are :mod:`sandbox.limits`, the same the live host applies. Never raises: any
    error while looking at the value (a huge int, a strange type) is itself the reason.
    """
    try:
        return _output_error(hook, value, Context.from_dict(ctx), candidates)
    except Exception as exc:  # a value that breaks validation is invalid
        return f"{hook} returned a value that could not be checked ({type(exc).__name__})"


def _output_error(
    hook: str, value: Any, context: Context, candidates: list[dict[str, Any]] | None
) -> str | None:
    if hook == "guide":
        if value is None:
            return None
        if not isinstance(value, dict):
            return "guide must return Guidance or None"
        if err := limits.text_error("Guidance.hint", value.get("hint", ""), limits.MAX_HINT_CHARS):
            return err
        focus = value.get("focus", [])
        if not isinstance(focus, list):
            return "Guidance.focus must be a list of parameter names"
        if len(focus) > limits.MAX_FOCUS_NAMES:
            return f"Guidance.focus has {len(focus)} names; at most {limits.MAX_FOCUS_NAMES}"
        names = context.names()
        for name in focus:
            if not isinstance(name, str) or name not in names:
                return f"Guidance.focus names unknown parameter {name!r}; known: {', '.join(names)}"
            if context.param(name).frozen:
                return f"Guidance.focus names {name!r}, which is frozen in this context"
        return None
    if not isinstance(value, list):
        return f"{hook} must return a list"
    if hook == "propose":
        if len(value) > limits.MAX_CANDIDATES_PER_CALL:
            return (
                f"propose returned {len(value)} candidates; at most "
                f"{limits.MAX_CANDIDATES_PER_CALL}"
            )
        for i, cand in enumerate(value):
            if not isinstance(cand, dict) or not isinstance(cand.get("changes"), dict):
                return f"candidate {i}: changes must be a dict of parameter name to value"
            if err := context.check(cand["changes"]):
                return f"candidate {i}: {err}"
            rationale = cand.get("rationale", "")
            if err := limits.text_error(
                f"candidate {i} rationale", rationale, limits.MAX_RATIONALE_CHARS
            ):
                return err
            if err := limits.priority_error(f"candidate {i} priority", cand.get("priority", 0.0)):
                return err
        return None
    if hook == "screen":
        expected = len(candidates or [])
        if len(value) != expected:
            return f"screen returned {len(value)} verdicts for {expected} candidates; return exactly one per candidate, in order"
        for i, verdict in enumerate(value):
            if not isinstance(verdict, dict) or not isinstance(verdict.get("accept"), bool):
                return f"verdict {i}: accept must be True or False"
            reason = verdict.get("reason", "")
            if err := limits.text_error(f"verdict {i} reason", reason, limits.MAX_REASON_CHARS):
                return err
        return None
    return f"unknown hook {hook!r}"
