"""The built-in agent: a deterministic, offline heuristic that plays every LLM role.

It is **not** an LLM. It lets the system run on its defaults anywhere (no key, no
network) and makes tests reproducible. It reads the structured ``payload`` a level passes
alongside its prompt. Level 1 is a pattern search: it walks one tunable param at a time
(least-tried first, focus params with a head start), keeps a direction that helped and
reverses one that hurt, adapts each param's step, and after a kept move repeats the joint
displacement of the last few kept trials (a Hooke-Jeeves pattern move). Level 1.5 freezes
params whose own moves keep failing and switches to exploitation when the search stalls.

Roles are plain functions by name. An agent plays Level 1 and 1.5 and the roles it is
built with: Level 2 passes ``explore``, ``critique``, ``specify``, ``generate`` and ``repair``
from its own module (:func:`orchestrator.level2.research.builtin_researcher.level2_roles`). There is no
registry shared between agents.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

from pydantic import BaseModel

from contract.hooks import Context, Trial
from contract.space import Param
from contract.trials import BASELINE_SOURCE, INTENSIFY_SOURCE, NON_SEARCH_SOURCES
from orchestrator.agent.recipe_edits import RECIPE_EDITS
from orchestrator.patches import SHORT_SHA, patch_sha_of
from trainer.patch import patch_sha256

BUILTIN_LABEL = "builtin"
T = TypeVar("T", bound=BaseModel)
RoleFn = Callable[[dict[str, Any]], dict[str, Any]]

# Default multiplicative move on log-scale params (×2 / ÷2), scaled by policy.step_scale.
LOG_STEP_FACTOR = 2.0
# Default additive move on linear params, as a fraction of the range.
LINEAR_STEP_FRACTION = 0.15
# Level 1: per-param step adaptation (compass search): three failed moves in a row halve
# that param's step (two would be both directions once, but one unlucky draw under noise
# then shrinks it for good: 3 did better on the noisy benchmarks); a kept move in the same
# direction as its last kept move doubles it. Bounds keep a step useful and inside the range.
STEP_FACTOR_MIN = 1 / 64
STEP_FACTOR_MAX = 4.0
FAILS_BEFORE_SHRINK = 3
# Level 1: a param with no move yet tries up or down first as the seed says, so seeds differ
# in their paths (a study's outcome is then a sample, not one fixed trajectory).
RANDOM_FIRST_DIRECTION = True
# A rejected random jump is redrawn up to this many times, from a stream that moves on with
# every round of rejections (a prime stride keeps the streams of nearby seeds apart).
JUMP_DRAWS = 8
JUMP_RESEED = 7919
# Jumps that were all tried widen: the step doubles this many times, and then each param is
# drawn uniformly over its range. Without it a small space whose neighbourhood was walked
# re-ran the incumbent's own config on its own seed, an identical value bought again (40%
# of the search trials on branin-noisy).
JUMP_WIDENINGS = 3
# Level 1: a pattern move (Hooke-Jeeves): after a kept move, repeat the whole displacement of
# the last few kept trials at once. Coordinate steps find a descent direction one param at a
# time; along a valley that runs diagonally they zig-zag, and the pattern move follows it.
# Measured (benchmarks/search_quality.py, 40 seeds): mixed 0.077 -> 0.024 and hartmann6
# 0.139 -> 0.087 median regret, the rest within noise. Waiting after a failed pattern move,
# or keeping multi-param moves out of a param's step memory, did no better.
PATTERN_MOVES = True
PATTERN_SPAN = 3  # kept trials the displacement is measured over
MAX_PATTERN_CHANGES = 3  # Level 1's rule (orchestrator.levels.level1.MAX_CHANGES)
# Level 1 (explore): focus params go first by this many tries, not always. Focus first
# always starved the rest: a param whose first move failed was never tried the other way
# (search_quality, 40 seeds: ackley5 0.633 -> 0.431, hartmann6-noisy 0.365 -> 0.182 median
# regret with the next rule; 1 and 3 did no better overall).
FOCUS_HEAD_START = 2
# Level 1, code trials on: the first search trial and every this-many-th after it tries the
# next untried edit of the recipe-edit library (orchestrator/agent/recipe_edits.py); the
# trials between tune hyperparameters (on the incumbent's recipe). Each code trial costs
# three jailed interpreters on top of its training, so most trials stay plain.
CODE_TRIAL_EVERY = 3
# Level 1.5: a param whose last this-many moves all failed to improve gets frozen.
FREEZE_AFTER_FAILED_MOVES = 3
# Level 1.5: trials without improvement after which the search switches to exploit.
STALL_TRIALS = 4


class BuiltinAgent:
    """Plays Level 1, Level 1.5 and the extra ``roles`` it is given (``fn(payload) -> dict``
    matching the role's reply model)."""

    label = BUILTIN_LABEL

    def __init__(self, roles: Mapping[str, RoleFn] | None = None) -> None:
        self.roles: dict[str, RoleFn] = {"level1": level1, "level15": level15, **(roles or {})}

    def ask(
        self, role: str, *, system: str, user: str, payload: dict[str, Any], reply: type[T]
    ) -> T:
        fn = self.roles.get(role)
        if fn is None:
            raise KeyError(f"the built-in agent has no role {role!r}; known: {sorted(self.roles)}")
        return reply.model_validate(fn(payload))


# ----------------------------------------------------------------------------- Level 1


def _moves(p: Param, value: Any, scale: float) -> list[Any]:
    """Candidate new values for one param, nearest first, all inside the range."""
    if p.kind == "choice":
        choices = list(p.choices)
        i = choices.index(value) if value in choices else 0
        order = [i + d for k in range(1, len(choices)) for d in (k, -k)]
        return [choices[j] for j in order if 0 <= j < len(choices)]
    low, high = _bounds(p)
    out: list[Any] = []
    if p.kind == "pow2":
        steps = max(1, round(scale))
        out = [int(value) * 2**steps, int(value) // 2**steps]
    elif p.log and value > 0:
        factor = LOG_STEP_FACTOR**scale
        out = [value * factor, value / factor]
    else:
        delta = (high - low) * LINEAR_STEP_FRACTION * scale
        out = [value + delta, value - delta]
    if p.kind == "int":
        out = [round(v) for v in out]
    elif p.kind == "float":
        out = [float(f"{v:.6g}") for v in out]
    return [v for v in out if low <= v <= high and v != value]


def _last_move(history: list[Trial], name: str) -> tuple[int, bool] | None:
    """(+1/-1 direction, improved?) of the latest finished trial that changed ``name``."""
    for t in reversed(history):
        if name in t.changes and t.status != "invalid":
            after = t.config[name]
            before = _value_before(history, t, name)
            if before is None or not isinstance(after, int | float) or after == before:
                return None
            return (1 if after > before else -1, bool(t.kept))
    return None


def _value_before(history: list[Trial], trial: Trial, name: str) -> Any:
    for t in reversed(history):
        if t.index < trial.index and t.kept:
            return t.config.get(name)
    return None


def _direction(history: list[Trial], trial: Trial, name: str) -> int:
    """+1/-1 when ``trial`` moved numeric ``name`` up/down from its base, else 0."""
    after = trial.config.get(name)
    before = _value_before(history, trial, name)
    if not isinstance(after, int | float) or not isinstance(before, int | float):
        return 0
    return 0 if after == before else (1 if after > before else -1)


def _step_factor(history: list[Trial], name: str) -> float:
    """How much this param's step has grown (kept moves one way) or shrunk (failed moves)."""
    factor, fails, last_kept = 1.0, 0, 0
    for t in history:
        if name not in t.changes or t.status == "invalid":
            continue
        direction = _direction(history, t, name)
        if direction == 0:
            continue
        if t.kept:
            if direction == last_kept:
                factor = min(STEP_FACTOR_MAX, factor * 2)
            last_kept, fails = direction, 0
        else:
            fails += 1
            if fails >= FAILS_BEFORE_SHRINK:
                factor, fails = max(STEP_FACTOR_MIN, factor / 2), 0
    return factor


def _failed_choices(history: list[Trial], name: str) -> set[str]:
    """Values of a choice param that lost since its last kept change: not worth a retry."""
    failed: set[str] = set()
    for t in history:
        if name in t.changes and t.status != "invalid":
            failed = set() if t.kept else failed | {json.dumps(t.config.get(name))}
    return failed


def _bounds(p: Param) -> tuple[float, float]:
    """A numeric param's inclusive range (the space gives every numeric param both bounds)."""
    if p.low is None or p.high is None:
        raise ValueError(f"param {p.name!r} ({p.kind}) has no range")
    return p.low, p.high


def level1(payload: dict[str, Any]) -> dict[str, Any]:
    ctx, policy = _proposals_only(payload["ctx"]), payload["policy"]
    history = ctx.history
    rng = random.Random(ctx.seed)
    rejections = payload.get("rejected", [])
    rejected = " ".join(rejections)
    params = ctx.tunable()
    focus = [p for p in params if p.name in payload.get("focus", [])]
    order = focus + [p for p in params if p not in focus]
    if policy.get("mode") == "explore":
        # Cycle through the coordinates evenly, least-tried first, focus params FOCUS_HEAD_START
        # tries ahead; ties keep the space's order, which lists the most consequential knobs
        # first (TOTAL_BATCH_SIZE leads in ours).
        tried = Counter(name for t in history for name in t.changes)
        order = sorted(
            params, key=lambda p: tried[p.name] - (FOCUS_HEAD_START if p in focus else 0)
        )
    else:  # exploit: rotate deterministically so every param gets its turn
        shift = ctx.iteration % max(len(order), 1)
        order = order[shift:] + order[:shift]
    if payload.get("code_trials") and (edit := _recipe_edit(history, rejected)) is not None:
        return edit
    scale = float(policy.get("step_scale", 1.0))
    pattern = _pattern_move(history, params, ctx.base) if PATTERN_MOVES else {}
    if pattern and not _was_rejected(pattern, rejected) and not _breaks(ctx, pattern):
        return {
            "hypothesis": "heuristic pattern move: repeat the last kept displacement "
            + ", ".join(f"{k} {ctx.base[k]!r} -> {v!r}" for k, v in pattern.items()),
            "changes": [{"name": k, "value": v} for k, v in pattern.items()],
        }
    for p in order:
        value = ctx.base[p.name]
        moves = _moves(p, value, scale * _step_factor(history, p.name))
        if p.kind == "choice":
            failed = _failed_choices(history, p.name)
            moves = [v for v in moves if json.dumps(v) not in failed]
        last = _last_move(history, p.name)
        if last and isinstance(value, int | float) and len(moves) == 2:
            direction, improved = last
            want_up = direction > 0 if improved else direction < 0
            moves.sort(key=lambda v: (v > value) != want_up)
        elif RANDOM_FIRST_DIRECTION and len(moves) == 2 and rng.random() < 0.5:
            moves.reverse()  # no evidence yet: the seed picks which way to try first
        for new in moves:
            change = {p.name: new}
            if (
                _was_rejected(change, rejected)
                or _tried(history, ctx.base, change)
                or _breaks(ctx, change)
            ):
                continue
            return {
                "hypothesis": f"heuristic coordinate step: {p.name} {value!r} -> {new!r}",
                "changes": [{"name": p.name, "value": new}],
            }
    # Everything near the base was tried: a random two-param jump keeps the search moving.
    # Each round of rejections draws afresh (the same seed would repeat the rejected jump).
    if rejections:
        rng = random.Random(ctx.seed + JUMP_RESEED * len(rejections))
    changes: list[dict[str, Any]] = []
    for widening in range(JUMP_WIDENINGS + 1):
        for _ in range(JUMP_DRAWS):
            if widening < JUMP_WIDENINGS:
                changes = _random_jump(rng, params, ctx.base, scale * 2**widening)
            else:
                changes = _uniform_jump(rng, params)
            jump = {c["name"]: c["value"] for c in changes}
            if jump and not (
                _was_rejected(jump, rejected)
                or _tried(history, ctx.base, jump)
                or _breaks(ctx, jump)
            ):
                how = "uniform draw" if widening == JUMP_WIDENINGS else "random jump"
                return {
                    "hypothesis": f"heuristic {how}: neighbourhood exhausted",
                    "changes": changes,
                }
    return {"hypothesis": "heuristic random jump: neighbourhood exhausted", "changes": changes}


def _recipe_edit(history: list[Trial], rejected: str) -> dict[str, Any] | None:
    """The library's next untried recipe edit when a code trial is due, else None."""
    search = [t for t in history if t.source not in (BASELINE_SOURCE, *NON_SEARCH_SOURCES)]
    if len(search) % CODE_TRIAL_EVERY:
        return None
    tried = {patch_sha_of(t.config) for t in history}
    for edit in RECIPE_EDITS:
        sha = patch_sha256(edit.diff)
        if sha in tried or f"patch {sha[:SHORT_SHA]}" in rejected:
            continue
        return {
            "hypothesis": f"known recipe edit {edit.name}: {edit.title}; {edit.why}",
            "changes": [],
            "patch": edit.diff,
        }
    return None


def _breaks(ctx: Context, changes: dict[str, Any]) -> bool:
    """Whether ``changes`` on the base break one of the context's constraints (the study
    would refuse it: a wasted round)."""
    return bool(ctx.constraints) and bool(ctx.violations(changes))


def _pattern_move(
    history: list[Trial], params: list[Param], base: dict[str, Any]
) -> dict[str, Any]:
    """base + (base - an earlier incumbent) over numeric params, when the last trial was kept
    and the displacement spans two or more params; {} when there is no such untried move."""
    if not history or not history[-1].kept:
        return {}
    kept = [t for t in history if t.kept]
    if len(kept) < 2:
        return {}
    anchor = kept[max(0, len(kept) - 1 - PATTERN_SPAN)].config
    changes: dict[str, Any] = {}
    moved: dict[str, float] = {}  # displacement as a fraction of the range, to rank params
    for p in params:
        name, now, then = p.name, base.get(p.name), anchor.get(p.name)
        if p.kind == "choice" or not isinstance(now, int | float):
            continue
        if not isinstance(then, int | float) or now == then:
            continue
        if p.kind == "pow2" or (p.log and now > 0 and then > 0):
            new: Any = now * (now / then)
        else:
            new = now + (now - then)
        if p.kind in ("int", "pow2"):
            new = round(new)
            if p.kind == "pow2":
                new = 2 ** round(math.log2(max(new, 1)))
        else:
            new = float(f"{new:.6g}")
        low, high = _bounds(p)
        if low <= new <= high and new != now:
            changes[name] = new
            moved[name] = abs(now - then) / (high - low)
    if len(changes) < 2:
        return {}
    # Level 1's own rule: at most 3 changes; keep the params that moved furthest.
    furthest = sorted(changes, key=lambda n: -moved[n])[:MAX_PATTERN_CHANGES]
    changes = {n: changes[n] for n in changes if n in furthest}
    return {} if _tried(history, base, changes) else changes


def _random_jump(
    rng: random.Random, params: list[Param], base: dict[str, Any], scale: float
) -> list[dict[str, Any]]:
    changes = []
    for p in rng.sample(params, k=min(2, len(params))):
        options = _moves(p, base[p.name], scale * 2) or _moves(p, base[p.name], scale)
        if options:
            changes.append({"name": p.name, "value": rng.choice(options)})
    return changes


def _uniform_jump(rng: random.Random, params: list[Param]) -> list[dict[str, Any]]:
    """Up to two params drawn uniformly over their whole range (log-uniform where the scale
    is logarithmic): what is left once every nearby move was tried."""
    changes = []
    for p in rng.sample(params, k=min(2, len(params))):
        changes.append({"name": p.name, "value": _uniform_value(rng, p)})
    return changes


def _uniform_value(rng: random.Random, p: Param) -> Any:
    if p.kind == "choice":
        return rng.choice(list(p.choices))
    low, high = _bounds(p)
    if p.kind == "pow2":
        return 2 ** rng.randint(round(math.log2(low)), round(math.log2(high)))
    if p.log and low > 0:
        value = math.exp(rng.uniform(math.log(low), math.log(high)))
    else:
        value = rng.uniform(low, high)
    if p.kind == "int":
        return min(max(round(value), int(low)), int(high))
    return min(max(float(f"{value:.6g}"), low), high)


def _was_rejected(change: dict[str, Any], rejected: str) -> bool:
    """Whether a screen already turned this change down: the planner quotes candidates as
    Python dicts, an LLM's own reasons may quote them as JSON."""
    return bool(change) and (json.dumps(change) in rejected or repr(change) in rejected)


def _tried(history: list[Trial], base: dict[str, Any], change: dict[str, Any]) -> bool:
    target = {**base, **change}
    return any(t.config == target for t in history)


# ---------------------------------------------------------------------------- Level 1.5


def _proposals_only(data: Mapping[str, Any]) -> Context:
    """The payload's context, typed as the mechanism API types it, without re-evaluations
    (races): this agent learns from its moves, and a re-run of a config on another seed is
    no move (it would hide that the last move was kept)."""
    ctx = Context.from_dict(data)
    return replace(ctx, history=[t for t in ctx.history if t.source != INTENSIFY_SOURCE])


def level15(payload: dict[str, Any]) -> dict[str, Any]:
    ctx, policy = _proposals_only(payload["ctx"]), payload["policy"]
    history = ctx.history
    failed: dict[str, int] = {}
    for t in history:
        if len(t.changes) > 1 and not t.kept:
            continue  # a failed joint move (a pattern move, a jump) blames no single param
        for name in t.changes:
            failed[name] = 0 if t.kept else failed.get(name, 0) + 1
    tunable = [p.name for p in ctx.space if not p.frozen or p.name in policy["frozen"]]
    freeze = [n for n in tunable if failed.get(n, 0) >= FREEZE_AFTER_FAILED_MOVES]
    frozen = [n for n in policy["frozen"] if n in freeze] + [
        n for n in freeze if n not in policy["frozen"]
    ]
    last_kept = max((t.index for t in history if t.kept), default=-1)
    stalled = sum(1 for t in history if t.index > last_kept) >= STALL_TRIALS
    mode = "exploit" if stalled else "explore"
    step = float(policy.get("step_scale", 1.0))
    step = max(0.25, step / 2) if stalled else min(4.0, step)
    best = ctx.best
    kept_changes = [n for t in history if t.kept for n in t.changes]
    focus = [n for n in dict.fromkeys(reversed(kept_changes)) if n not in frozen][:3]
    diagnosis = (
        f"{len(history)} trials; best {ctx.metric} {best.value:.5f}"
        if best and best.value is not None
        else "no ok trial yet"
    ) + (f"; stalled for {STALL_TRIALS}+ trials" if stalled else "; still improving")
    return {
        "diagnosis": f"[built-in heuristic] {diagnosis}",
        "frozen": frozen,
        "mode": mode,
        "step_scale": step if math.isfinite(step) else 1.0,
        "guidance": "refine around the incumbent with small steps"
        if stalled
        else "vary the params that produced kept improvements",
        "focus": focus,
    }
