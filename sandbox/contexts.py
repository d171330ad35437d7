"""Contract-test inputs and output validation, shared by the harness and the host.

The contract tests call every hook on synthetic contexts built from the study's search
space (empty history, long history, only crashed trials, extra frozen parameters) and on
the study's own recent live contexts (replays); :func:`validate_output` decides whether an
answer obeys the API, with the limits the live host applies (:mod:`contract.limits`).

Contract contexts must be indistinguishable from live ones, or a module could behave only
while tested: seeds follow the live formula (:func:`context_seed`) from a per-run random
draw, histories start with the baseline and read like a real study's (sources, hypotheses,
configs relative to the incumbent of the time), sizes vary from run to run, the order is
shuffled, and in a study the replays lend their metric, direction, seed and wording.

Standard library only: this runs inside the sandbox image.
"""

from __future__ import annotations

import math
import random
from typing import Any

from contract.hook_output import output_error
from contract.seeds import SEED_MODULUS, SEED_STRIDE, context_seed  # noqa: F401 (re-exported)
from sandbox import limits
from sandbox.api import BASELINE_SOURCE, NOISE_SOURCES, TRIAL_STATUSES, Context, Param

# Contexts' seeds (live and contract alike) come from contract.seeds.context_seed.
# Trials in the synthetic histories, drawn per run from these ranges: long enough to
# exercise O(n²) code and a Level-2 cadence window, short enough to keep the ladder fast;
# a crashed start long enough to trip a mechanism's own "too many failures" logic.
LONG_HISTORY_TRIALS = (40, 80)
CRASHED_HISTORY_TRIALS = (8, 12)
FROZEN_HISTORY_TRIALS = (8, 20)
MAX_REPLAYS = 8  # replayed contexts beyond this add time, not coverage
# Candidates offered to ``screen``: Level 1's one plus a few from mechanisms, as live.
SCREEN_CANDIDATES = (2, 6)
# Two settings closer than this (relative) count as the same experiment; screen candidates
# are "fresh": none repeats a tried configuration even at this tolerance.
FRESH_TOLERANCE = 0.05
# Share of synthetic trials whose source and hypothesis are borrowed from the replays.
BORROWED_SHARE = 0.5
# Mechanism names seen in live sources when the study has no replays yet: the library's.
KNOWN_MECHANISMS = (
    "trust_region",
    "gp_expected_improvement",
    "latin_hypercube",
    "ucb_bandit",
    "tabu_screen",
)
_LLM_HYPOTHESES = (
    "{verb} {name} to {value}: the last changes to it moved the metric this way",
    "{name}={value} should train more stably within the fixed budget",
    "{verb} {name}; the incumbent looks limited by it",
    "revisit {name} at {value}, untried near the incumbent",
    "combine the best config with {name}={value}, which the trend favours",
    "a {size} step on {name} ({value}) to test the curvature around the incumbent",
)
_MECHANISM_RATIONALES = (
    "small step on {name} ({old} -> {value}) around the incumbent",
    "GP expected improvement {score:.4f} at {name}={value}",
    "UCB1 picks {name} (highest upper confidence bound on gain)",
    "LHS row {row} of 8",
)


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
        raw = math.exp(rng.uniform(math.log(p.low), math.log(p.high)))
    else:
        raw = rng.uniform(p.low, p.high)
    shown = float(f"{raw:.4g}")  # values as people and LLMs write them, still in range
    return shown if p.low <= shown <= p.high else raw


def _shown(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


class _Study:
    """What the synthetic histories borrow from the real study (its replays), or plausible
    stand-ins when there is none: seed, metric, direction, value scale and wording."""

    def __init__(self, replays: list[dict[str, Any]], rng: random.Random) -> None:
        self.rng = rng
        live = replays[0] if replays else {}
        self.metric = str(live.get("metric") or "val_bpb")
        self.direction = str(live.get("direction") or "minimize")
        if live:  # the study's own offset: every live context of a study shares it
            self.offset = (int(live.get("seed", 0)) - int(live.get("iteration", 0))) % SEED_MODULUS
        else:  # most studies keep the default seed 0; some set their own
            self.offset = context_seed(0 if rng.random() < 0.5 else rng.randint(1, 9999), 0)
        trials = [t for r in replays for t in r.get("history") or [] if isinstance(t, dict)]
        self.borrowed = [
            (str(t.get("source")), str(t.get("hypothesis")))
            for t in trials
            if t.get("source") not in (None, BASELINE_SOURCE, *NOISE_SOURCES)
        ]
        sources = {s.split(":", 1)[1] for s, _ in self.borrowed if s.startswith("mechanism:")}
        self.mechanisms = sorted(sources) or list(KNOWN_MECHANISMS)
        values = [float(t["value"]) for t in trials if isinstance(t.get("value"), int | float)]
        self.start = values[0] if values else rng.uniform(1.6, 2.4)
        spread = (max(values) - min(values)) if len(values) > 1 else 0.0
        self.step = spread / 20 or abs(self.start) * 0.01 or 0.01

    def seed(self, iteration: int) -> int:
        return (self.offset + iteration) % SEED_MODULUS

    def score(self, value: float) -> float:
        return -value if self.direction == "maximize" else value

    def wording(self, changes: dict[str, Any], base: dict[str, Any]) -> tuple[str, str]:
        """A (source, hypothesis) pair for a trial making ``changes`` to ``base``."""
        rng = self.rng
        name, value = next(iter(changes.items()))
        about = [pair for pair in self.borrowed if name in pair[1]]  # wording that fits
        if about and rng.random() < BORROWED_SHARE:
            return rng.choice(about)
        old = base.get(name)
        fields = {
            "name": name,
            "value": _shown(value),
            "old": _shown(old),
            "verb": "raise" if _greater(value, old) else "lower" if _greater(old, value) else "set",
            "size": rng.choice(("small", "bold")),
            "score": rng.uniform(0.0005, 0.05),
            "row": rng.randint(1, 8),
        }
        roll = rng.random()
        if roll < 0.5:
            return "llm", rng.choice(_LLM_HYPOTHESES).format(**fields)
        if roll < 0.65:
            return "builtin", f"heuristic coordinate step: {name} {old!r} -> {value!r}"
        mechanism = rng.choice(self.mechanisms)
        return f"mechanism:{mechanism}", rng.choice(_MECHANISM_RATIONALES).format(**fields)


def _greater(a: Any, b: Any) -> bool:
    numbers = all(isinstance(x, int | float) and not isinstance(x, bool) for x in (a, b))
    return bool(numbers and a > b)


def _history(
    study: _Study, space: list[Param], defaults: dict[str, Any], size: int, *, crashed: bool
) -> list[dict[str, Any]]:
    """``size`` finished trials as a live study records them: the baseline first, then
    changes relative to the incumbent of the time, the incumbent moving on each kept trial."""
    rng = study.rng
    tunable = [p for p in space if not p.frozen]
    history: list[dict[str, Any]] = []
    incumbent, best_score = dict(defaults), math.inf
    value = study.start
    for index in range(size):
        if index == 0:
            changes: dict[str, Any] = {}
            source, hypothesis = BASELINE_SOURCE, "baseline: the defaults"
        else:
            picked = rng.sample(tunable, k=min(len(tunable), rng.randint(1, 3))) if tunable else []
            changes = {p.name: _sample(p, rng) for p in picked}
            source, hypothesis = study.wording(changes, incumbent) if changes else ("llm", "")
        if crashed:
            status = TRIAL_STATUSES[1 + index % (len(TRIAL_STATUSES) - 1)]
        else:
            status = "ok" if index == 0 or rng.random() > 0.15 else rng.choice(TRIAL_STATUSES[1:])
        drift = rng.uniform(-0.6, 1.0) * study.step  # mostly improving, as a search does
        value = value - drift if study.direction == "minimize" else value + drift
        shown = round(value, 5) if status == "ok" else None
        score = None if shown is None else study.score(shown)
        kept = score is not None and score < best_score
        history.append(
            {
                "index": index,
                "config": {**incumbent, **changes},
                "changes": changes,
                "value": shown,
                "val_bpb": score,
                "status": status,
                "kept": kept,
                "source": source,
                "hypothesis": hypothesis,
            }
        )
        if kept:
            assert score is not None
            incumbent, best_score = {**incumbent, **changes}, score
    return history


def _context(
    study: _Study,
    space: list[Param],
    history: list[dict[str, Any]],
    defaults: dict[str, Any],
) -> dict[str, Any]:
    kept = [t for t in history if t["kept"]]
    best = kept[-1] if kept else None
    # Trials still running are not in the history yet: the next index may be a little ahead.
    iteration = len(history) + (study.rng.randint(0, 2) if history else 0)
    return {
        "iteration": iteration,
        "seed": study.seed(iteration),
        "space": [p.to_dict() for p in space],
        "history": history,
        "best": best,
        "base": dict(best["config"]) if best else dict(defaults),
        "metric": study.metric,
        "direction": study.direction,
    }


def contract_contexts(
    space_dicts: list[dict[str, Any]], replays: list[dict[str, Any]], *, seed: int | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """The named contexts every hook is called on, in a shuffled order: the synthetic cases,
    then up to :data:`MAX_REPLAYS` of the study's own recent live contexts.

    ``seed`` (tests only) fixes the draw; by default every run draws afresh, so neither the
    seeds nor the histories of a contract test can be recognised from one run to the next.
    """
    rng = random.Random(seed if seed is not None else random.SystemRandom().getrandbits(64))
    replays = [r for r in replays[:MAX_REPLAYS] if isinstance(r, dict)]
    study = _Study(replays, rng)
    space = [Param.from_dict(p) for p in space_dicts]
    defaults = {p.name: _default(p) for p in space}

    def sized(bounds: tuple[int, int]) -> int:
        return rng.randint(*bounds)

    # Freeze every other tunable parameter: a mechanism must read `frozen`, not assume names.
    tunable = [p.name for p in space if not p.frozen]
    offset = rng.randint(0, 1)
    refrozen = {name for i, name in enumerate(tunable) if i % 2 == offset}
    if len(refrozen) == len(tunable):  # one tunable parameter: keep it tunable
        refrozen = set()
    frozen_space = [
        Param(
            **{**p.to_dict(), "choices": tuple(p.choices), "frozen": p.frozen or p.name in refrozen}
        )
        for p in space
    ]
    long_history = _history(study, space, defaults, sized(LONG_HISTORY_TRIALS), crashed=False)
    crashed = _history(study, space, defaults, sized(CRASHED_HISTORY_TRIALS), crashed=True)
    frozen = _history(study, frozen_space, defaults, sized(FROZEN_HISTORY_TRIALS), crashed=False)
    cases: list[tuple[str, dict[str, Any]]] = [
        ("empty-history", _context(study, space, [], defaults)),
        ("long-history", _context(study, space, long_history, defaults)),
        ("crashed-trials", _context(study, space, crashed, defaults)),
        ("frozen-params", _context(study, frozen_space, frozen, defaults)),
    ]
    cases += [(f"replay-{i}", Context.from_dict(r).to_dict()) for i, r in enumerate(replays)]
    rng.shuffle(cases)
    return cases


def _same(a: Any, b: Any) -> bool:
    if _greater(a, b) or _greater(b, a):
        scale = max(abs(a), abs(b), 1e-12)
        return abs(a - b) / scale <= FRESH_TOLERANCE
    return a == b


def _fresh(config: dict[str, Any], history: list[Any]) -> bool:
    return not any(
        all(_same(config.get(k), t.config.get(k)) for k in set(config) | set(t.config))
        for t in history
    )


def screen_candidates(ctx: dict[str, Any]) -> list[dict[str, Any]]:
    """Valid, fresh candidates for ``screen`` as live planning offers them: Level 1's first
    (priority 0, a hypothesis for a rationale), then a few from mechanisms. Derived from the
    context alone, so both calls of the determinism check get the same list."""
    context = Context.from_dict(ctx)
    rng = random.Random(f"screen-{context.seed}-{len(context.history)}")
    study = _Study([], rng)  # fresh wording: a rationale always names what it changes
    tunable = context.tunable()
    wanted = rng.randint(*SCREEN_CANDIDATES)
    out: list[dict[str, Any]] = []
    for _ in range(wanted * 8):  # bounded: a tiny space may not have that many fresh ones
        if len(out) >= wanted or not tunable:
            break
        picked = rng.sample(tunable, k=min(len(tunable), rng.randint(1, 3)))
        changes = {p.name: _sample(p, rng) for p in picked}
        config = context.apply(changes)
        if context.check(changes) or not _fresh(config, context.history):
            continue
        if any(context.apply(c["changes"]) == config for c in out):
            continue
        _, rationale = study.wording(changes, context.base)
        priority = 0.0 if not out else round(rng.uniform(0.1, 2.0), 3)
        out.append(
            {
                "changes": changes,
                "rationale": rationale[: limits.MAX_RATIONALE_CHARS],
                "priority": priority,
            }
        )
    return out


def screen_problem(screens: list[tuple[list[dict[str, Any]], Any]]) -> str | None:
    """Why a screen is rejected for vetoing *every* valid, fresh candidate in *every*
    context it was shown (``(candidates, verdicts)`` per context), or None. Live, such a
    screen silences Level 1 and every mechanism: each trial costs extra Level-1 rounds."""
    offered = [(cands, verdicts) for cands, verdicts in screens if cands]
    if not offered:
        return None
    for _, verdicts in offered:
        if not isinstance(verdicts, list):
            return None  # invalid output is reported by validate_output, not here
        if any(not isinstance(v, dict) or v.get("accept") is not False for v in verdicts):
            return None
    total = sum(len(cands) for cands, _ in offered)
    return (
        f"screen vetoed all {total} valid, untried candidates in all {len(offered)} contexts; "
        "a screen must let good candidates through (veto only what you have evidence against)"
    )


def validate_output(
    hook: str, value: Any, ctx: dict[str, Any], candidates: list[dict[str, Any]] | None
) -> str | None:
    """Why a hook's JSON output breaks the API for this context, or None when it is valid.

    The one validator the live host applies too (:func:`contract.hook_output.output_error`),
    with the limits of :mod:`contract.limits`. Never raises: any error while looking at the
    value (a huge int, a strange type) is itself the reason.
    """
    try:
        space, n_candidates = Context.from_dict(ctx).space, len(candidates or [])
    except Exception as exc:  # a context that cannot be read: nothing to validate against
        return f"{hook} returned a value that could not be checked ({type(exc).__name__})"
    return output_error(hook, value, space, n_candidates)
