"""Contract-test inputs and output validation, shared by the harness and the host.

:func:`make_context` is the one builder of a hook's context: the live host
(``orchestrator/state.py``) and the contract tests both call it. The contract tests call
every hook on synthetic contexts (empty history, a history as long as the study, only
crashed trials, extra frozen parameters; :mod:`sandbox.synthetic` writes their trials)
and on the study's own recent live contexts (replays); :func:`validate_output` decides
whether an answer obeys the API, with the limits the live host applies
(:mod:`contract.limits`).

Contract contexts must be indistinguishable from live ones, or a module could behave only
while tested: seeds follow the live formula (:func:`context_seed`) from a per-run random
draw, histories start with the baseline and read like a real study's (the module's own
name among the sources, full-precision values, configs relative to the incumbent of the
time), sizes vary from run to run up to the study's length, the order is shuffled, and in
a study the replays lend their metric, direction, seed and wording. Every draw comes from
operating-system entropy in the supervisor, which the module cannot read or rebuild.

Standard library only: this runs inside the sandbox image.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from contract.hook_output import output_error
from contract.hooks import Context
from contract.space import Param
from sandbox import synthetic

# Contexts' seeds (live and contract alike) come from contract.seeds.context_seed.
# The study length the long history takes when the ladder is not told the study's
# ``iterations`` (``mechanism check`` without a study): the quickstart's.
DEFAULT_ITERATIONS = 30
# Live, the history of the last trial's planning holds every earlier trial but the few
# still running: the long history is this many trials short of the study's length at most.
RUNNING_AT_THE_END = (1, 3)
# A study this long still gets a long history this long: shorter tells a module nothing new.
MIN_LONG_HISTORY = 8
CRASHED_HISTORY_TRIALS = (8, 12)
# Histories of drawn lengths between empty and long: live contexts come at every length, and
# a screen is seen in enough rounds (one Level-1 candidate each) to show whom it silences.
MID_HISTORIES = 2
FROZEN_HISTORY_TRIALS = (8, 20)
MAX_REPLAYS = 8  # replayed contexts beyond this add time, not coverage
# A screen is rejected for silencing one proposer (Level 1, or one sibling mechanism) when
# it vetoed every one of at least this many of its candidates...
SILENCED_MIN_CANDIDATES = 6
# ...and a screen that let the others through as often would veto all of them by chance
# with at most this probability (the candidates all come from one distribution).
SILENCED_CHANCE = 0.01
FRESH_TOLERANCE = synthetic.FRESH_TOLERANCE
# The study's counters a live context carries (API 3) and a synthetic one draws per context
# (see ContractRun._counters): copied from the newest live context, they would be one value
# in every contract context, and a module could key on it (act only once few trials are left).
COUNTER_FIELDS = frozenset({"trials_left", "step_scale", "noise_sd", "refused"})
# The search policy's move-size range (orchestrator.levels.policy.STEP_SCALE_RANGE; a test
# keeps the two equal): synthetic step scales are drawn from all of it.
STEP_SCALE_RANGE = (0.25, 4.0)
# Share of synthetic contexts that keep the study's current step scale (1.0 unless Level 1.5
# moved it) rather than a drawn one, and of those without a noise estimate yet.
KEEP_STEP_SHARE = 0.5
NO_NOISE_SHARE = 0.3
# A drawn noise estimate is the study's own (or the value scale's) times a factor in this range.
NOISE_FACTOR = (0.3, 3.0)


_STANDARD_FIELDS = frozenset(
    {"iteration", "seed", "space", "history", "best", "base", "metric", "direction"}
)


def make_context(
    *,
    iteration: int,
    seed: int,
    space: list[dict[str, Any]],
    history: list[dict[str, Any]],
    best: dict[str, Any] | None,
    base: dict[str, Any],
    metric: str,
    direction: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON form of the API's ``Context``: the one builder, live and contract alike."""
    return {
        "iteration": iteration,
        "seed": seed,
        "space": space,
        "history": history,
        "best": best,
        "base": base,
        "metric": metric,
        "direction": direction,
        **(extra or {}),
    }


@dataclass
class ContractCase:
    """One named context of a contract run."""

    name: str
    context: dict[str, Any]


class ContractRun:
    """The contexts of one contract run and the screen rounds shown in them.

    Everything is drawn from ``rng`` (fresh operating-system entropy unless a test fixes a
    seed), held by the supervisor only.
    """

    def __init__(
        self,
        space_dicts: list[dict[str, Any]],
        replays: list[dict[str, Any]],
        *,
        name: str | None = None,
        iterations: int | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.rng = rng or synthetic.secret_rng()
        self.replays = [r for r in replays[:MAX_REPLAYS] if isinstance(r, dict)]
        self.study = synthetic.Study(self.rng, self.replays, own=name)
        self.space = [Param.from_dict(p) for p in space_dicts]
        self.iterations = iterations if isinstance(iterations, int) and iterations > 0 else None
        self.total = self._study_length()
        self.cases = self._cases()

    def _study_length(self) -> int:
        """The study's ``iterations``: as told, else what the newest live context implies
        (its index plus the trials it had left), else the quickstart's."""
        if self.iterations:
            return self.iterations
        live = self.replays[0] if self.replays else {}
        left, index = live.get("trials_left"), live.get("iteration")
        if isinstance(left, int) and isinstance(index, int) and left > 0 and index >= 0:
            return index + left
        return DEFAULT_ITERATIONS

    def _cases(self) -> list[ContractCase]:
        rng, study, space = self.rng, self.study, self.space
        defaults = {p.name: synthetic.default_value(p) for p in space}
        # Freeze every other tunable parameter: a mechanism must read `frozen`, not assume names.
        tunable = [p.name for p in space if not p.frozen]
        offset = rng.randint(0, 1)
        refrozen = {n for i, n in enumerate(tunable) if i % 2 == offset}
        if len(refrozen) == len(tunable):  # one tunable parameter: keep it tunable
            refrozen = set()
        frozen_space = [
            Param(
                **{
                    **p.to_dict(),
                    "choices": tuple(p.choices),
                    "frozen": p.frozen or p.name in refrozen,
                }
            )
            for p in space
        ]
        length = self.total
        long_size = max(length - rng.randint(*RUNNING_AT_THE_END), MIN_LONG_HISTORY)
        cases = [
            ContractCase("empty-history", self._context(space, [], defaults)),
            ContractCase(
                "long-history",
                self._context(space, synthetic.history(study, space, defaults, long_size, crashed=False), defaults),
            ),
            ContractCase(
                "crashed-trials",
                self._context(
                    space,
                    synthetic.history(study, space, defaults, rng.randint(*CRASHED_HISTORY_TRIALS), crashed=True),
                    defaults,
                ),
            ),
            ContractCase(
                "frozen-params",
                self._context(
                    frozen_space,
                    synthetic.history(study, frozen_space, defaults, rng.randint(*FROZEN_HISTORY_TRIALS), crashed=False),
                    defaults,
                ),
            ),
        ]  # fmt: skip
        for i in range(MID_HISTORIES):  # live contexts come at every length in between
            size = rng.randint(2, max(long_size - 1, 2))
            trials = synthetic.history(study, space, defaults, size, crashed=False)
            cases.append(ContractCase(f"history-{i}", self._context(space, trials, defaults)))
        cases += [
            ContractCase(f"replay-{i}", Context.from_dict(r).to_dict())
            for i, r in enumerate(self.replays)
        ]
        rng.shuffle(cases)
        return cases

    def _context(
        self, space: list[Param], history: list[dict[str, Any]], defaults: dict[str, Any]
    ) -> dict[str, Any]:
        kept = [t for t in history if t["kept"]]
        best = kept[-1] if kept else None
        # Trials still running are not in the history yet: the next index may be a little ahead.
        iteration = len(history) + (self.rng.randint(0, 2) if history else 0)
        return make_context(
            iteration=iteration,
            seed=self.study.seed(iteration),
            space=[p.to_dict() for p in space],
            history=history,
            best=best,
            base=dict(best["config"]) if best else dict(defaults),
            metric=self.study.metric,
            direction=self.study.direction,
            extra={**self._extra(), **self._counters(iteration, len(history))},
        )

    def _extra(self) -> dict[str, Any]:
        """What the study's live contexts carry beyond the standard fields and the counters
        (an objective's description, its facts and constraints): the synthetic ones carry it
        too."""
        live = self.replays[0] if self.replays else {}
        return {
            k: v for k, v in live.items() if k not in _STANDARD_FIELDS and k not in COUNTER_FIELDS
        }

    def _counters(self, iteration: int, finished: int) -> dict[str, Any]:
        """The counters of a live context at ``iteration``, drawn over the whole study:
        trials left as the study would have them then (down to the last trial), the step
        scale anywhere in the policy's range, a noise estimate or none yet, and some of the
        refusals the study has shown. Live contexts carry every counter (API 3); only a
        study whose live contexts lack one (an older API) gets none here either."""
        rng, live = self.rng, (self.replays[0] if self.replays else {})
        out: dict[str, Any] = {}
        if not live or live.get("trials_left") is not None:
            out["trials_left"] = max(1, self.total - iteration)
        if not live or "step_scale" in live:
            given = live.get("step_scale")
            current = float(given) if isinstance(given, int | float) and given > 0 else 1.0
            low, high = STEP_SCALE_RANGE
            drawn = math.exp(rng.uniform(math.log(low), math.log(high)))
            out["step_scale"] = current if rng.random() < KEEP_STEP_SHARE else drawn
        if not live or "noise_sd" in live:
            out["noise_sd"] = self._noise(live, finished)
        if not live or "refused" in live:
            shown = [str(r) for replay in self.replays for r in replay.get("refused") or []]
            shown = list(dict.fromkeys(shown))
            picked = sorted(rng.sample(range(len(shown)), k=rng.randint(0, len(shown))))
            out["refused"] = [shown[i] for i in picked]  # in the order the study showed them
        return out

    def _noise(self, live: dict[str, Any], finished: int) -> float | None:
        """A noise estimate for a history of ``finished`` trials: none yet (always before
        the baseline finished), the study's (0.0 stays 0.0: a deterministic objective), or
        one drawn around it (or around the value scale when the study has none)."""
        rng, known = self.rng, live.get("noise_sd")
        if finished == 0 or rng.random() < NO_NOISE_SHARE:
            return None
        if known == 0:
            return 0.0
        scale = float(known) if isinstance(known, int | float) and known > 0 else self.study.step
        return scale * rng.uniform(*NOISE_FACTOR)

    def screen_round(
        self, ctx: dict[str, Any], own: list[dict[str, Any]] | None = None
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """Candidates for ``screen`` in ``ctx`` (the module's ``own`` proposals among them)
        and who proposed each (:data:`synthetic.LEVEL1`, a sibling's name, :data:`synthetic.OWN`)."""
        return synthetic.screen_round(self.study, ctx, own)


def contract_contexts(
    space_dicts: list[dict[str, Any]],
    replays: list[dict[str, Any]],
    *,
    name: str | None = None,
    iterations: int | None = None,
    seed: int | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """The named contexts every hook is called on, in a shuffled order: the synthetic cases,
    then up to :data:`MAX_REPLAYS` of the study's own recent live contexts.

    ``seed`` (tests only) fixes the draw; by default every run draws afresh, so neither the
    seeds nor the histories of a contract test can be recognised from one run to the next.
    """
    rng = random.Random(seed) if seed is not None else None
    run = ContractRun(space_dicts, replays, name=name, iterations=iterations, rng=rng)
    return [(c.name, c.context) for c in run.cases]


Screen = tuple[list[dict[str, Any]], list[str], Any]  # (candidates, proposers, verdicts)


def screen_problem(screens: list[Screen]) -> str | None:
    """Why a screen is rejected, from the rounds it was shown, or None.

    - It vetoed *every* valid, fresh candidate in *every* context: live, it silences Level 1
      and every mechanism, and each trial costs extra Level-1 rounds.
    - It vetoed every candidate of one proposer (Level 1, or one sibling mechanism) while
      letting the others through, when all were drawn alike: it judges who proposed, not
      what. Level 2 improves Level 1's search; it never silences it, nor a sibling.
    """
    offered = [(c, s, v) for c, s, v in screens if c]
    if not offered:
        return None
    tally: dict[str, list[bool]] = {}
    for candidates, sources, verdicts in offered:
        if not isinstance(verdicts, list) or len(verdicts) != len(candidates):
            return None  # invalid output is reported by validate_output, not here
        for source, verdict in zip(sources, verdicts, strict=False):
            passed = isinstance(verdict, dict) and verdict.get("accept") is not False
            tally.setdefault(source, []).append(passed)
    others_all = [a for s, acc in tally.items() if s != synthetic.OWN for a in acc]
    if others_all and not any(others_all):
        but_own = " but its own" if tally.get(synthetic.OWN) else ""
        return (
            f"screen vetoed all {len(others_all)} valid, untried candidates{but_own} in all "
            f"{len(offered)} contexts; a screen must let good candidates through (veto only "
            "what you have evidence against)"
        )
    for source, accepted in sorted(tally.items()):
        if source == synthetic.OWN or any(accepted) or len(accepted) < SILENCED_MIN_CANDIDATES:
            continue
        # The others it let through at all: a screen that silences two proposers must not
        # hide each behind the other.
        others = [
            a
            for s, acc in tally.items()
            if s not in (source, synthetic.OWN) and any(acc)
            for a in acc
        ]
        if not others:
            continue
        vetoed = 1 - sum(others) / len(others)
        if vetoed ** len(accepted) > SILENCED_CHANCE:
            continue
        who = (
            "Level 1's candidates (priority 0)"
            if source == synthetic.LEVEL1
            else "one other mechanism's candidates"
        )
        return (
            f"screen vetoed all {len(accepted)} of {who} while accepting "
            f"{sum(others)} of {len(others)} others drawn the same way; a screen judges a "
            "candidate's changes, never who proposed it (Level 2 must not silence Level 1 "
            "or a sibling)"
        )
    return None


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
